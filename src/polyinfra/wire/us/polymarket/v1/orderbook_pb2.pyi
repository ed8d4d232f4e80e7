import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from polyinfra.wire.us.polymarket.v1 import marketdatasubscription_pb2 as _marketdatasubscription_pb2
from polyinfra.wire.us.polymarket.v1 import refdata_pb2 as _refdata_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetOrderBookRequest(_message.Message):
    __slots__ = ("symbol", "depth")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    DEPTH_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    depth: int
    def __init__(self, symbol: _Optional[str] = ..., depth: _Optional[int] = ...) -> None: ...

class GetOrderBookResponse(_message.Message):
    __slots__ = ("symbol", "bids", "offers", "state", "stats", "transact_time")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    BIDS_FIELD_NUMBER: _ClassVar[int]
    OFFERS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    TRANSACT_TIME_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    bids: _containers.RepeatedCompositeFieldContainer[_marketdatasubscription_pb2.BookEntry]
    offers: _containers.RepeatedCompositeFieldContainer[_marketdatasubscription_pb2.BookEntry]
    state: _refdata_pb2.InstrumentState
    stats: _marketdatasubscription_pb2.InstrumentStats
    transact_time: _timestamp_pb2.Timestamp
    def __init__(self, symbol: _Optional[str] = ..., bids: _Optional[_Iterable[_Union[_marketdatasubscription_pb2.BookEntry, _Mapping]]] = ..., offers: _Optional[_Iterable[_Union[_marketdatasubscription_pb2.BookEntry, _Mapping]]] = ..., state: _Optional[_Union[_refdata_pb2.InstrumentState, str]] = ..., stats: _Optional[_Union[_marketdatasubscription_pb2.InstrumentStats, _Mapping]] = ..., transact_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetBBORequest(_message.Message):
    __slots__ = ("symbol",)
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    def __init__(self, symbol: _Optional[str] = ...) -> None: ...

class GetBBOResponse(_message.Message):
    __slots__ = ("symbol", "best_bid", "best_offer", "spread", "mid_price", "state", "transact_time")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    BEST_BID_FIELD_NUMBER: _ClassVar[int]
    BEST_OFFER_FIELD_NUMBER: _ClassVar[int]
    SPREAD_FIELD_NUMBER: _ClassVar[int]
    MID_PRICE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TRANSACT_TIME_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    best_bid: _marketdatasubscription_pb2.BookEntry
    best_offer: _marketdatasubscription_pb2.BookEntry
    spread: int
    mid_price: int
    state: _refdata_pb2.InstrumentState
    transact_time: _timestamp_pb2.Timestamp
    def __init__(self, symbol: _Optional[str] = ..., best_bid: _Optional[_Union[_marketdatasubscription_pb2.BookEntry, _Mapping]] = ..., best_offer: _Optional[_Union[_marketdatasubscription_pb2.BookEntry, _Mapping]] = ..., spread: _Optional[int] = ..., mid_price: _Optional[int] = ..., state: _Optional[_Union[_refdata_pb2.InstrumentState, str]] = ..., transact_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
