import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from polyinfra.wire.us.polymarket.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Position(_message.Message):
    __slots__ = ("account", "symbol", "net_position", "qty_bought", "qty_sold", "cost", "realized", "bod_position", "expired", "update_time")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    NET_POSITION_FIELD_NUMBER: _ClassVar[int]
    QTY_BOUGHT_FIELD_NUMBER: _ClassVar[int]
    QTY_SOLD_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    REALIZED_FIELD_NUMBER: _ClassVar[int]
    BOD_POSITION_FIELD_NUMBER: _ClassVar[int]
    EXPIRED_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    account: str
    symbol: str
    net_position: int
    qty_bought: int
    qty_sold: int
    cost: int
    realized: int
    bod_position: int
    expired: bool
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, account: _Optional[str] = ..., symbol: _Optional[str] = ..., net_position: _Optional[int] = ..., qty_bought: _Optional[int] = ..., qty_sold: _Optional[int] = ..., cost: _Optional[int] = ..., realized: _Optional[int] = ..., bod_position: _Optional[int] = ..., expired: _Optional[bool] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListAccountPositionsRequest(_message.Message):
    __slots__ = ("name", "symbol", "as_of_time", "as_of_date", "page_size", "page_token", "active_only", "non_zero_only")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    AS_OF_TIME_FIELD_NUMBER: _ClassVar[int]
    AS_OF_DATE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_ONLY_FIELD_NUMBER: _ClassVar[int]
    NON_ZERO_ONLY_FIELD_NUMBER: _ClassVar[int]
    name: str
    symbol: str
    as_of_time: _timestamp_pb2.Timestamp
    as_of_date: _types_pb2.Date
    page_size: int
    page_token: str
    active_only: bool
    non_zero_only: bool
    def __init__(self, name: _Optional[str] = ..., symbol: _Optional[str] = ..., as_of_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., as_of_date: _Optional[_Union[_types_pb2.Date, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., active_only: _Optional[bool] = ..., non_zero_only: _Optional[bool] = ...) -> None: ...

class ListAccountPositionsResponse(_message.Message):
    __slots__ = ("positions", "available_position", "next_page_token", "eof")
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_POSITION_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    EOF_FIELD_NUMBER: _ClassVar[int]
    positions: _containers.RepeatedCompositeFieldContainer[Position]
    available_position: _containers.RepeatedScalarFieldContainer[int]
    next_page_token: str
    eof: bool
    def __init__(self, positions: _Optional[_Iterable[_Union[Position, _Mapping]]] = ..., available_position: _Optional[_Iterable[int]] = ..., next_page_token: _Optional[str] = ..., eof: _Optional[bool] = ...) -> None: ...

class GetAccountBalanceRequest(_message.Message):
    __slots__ = ("name", "currency")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    name: str
    currency: str
    def __init__(self, name: _Optional[str] = ..., currency: _Optional[str] = ...) -> None: ...

class GetAccountBalanceResponse(_message.Message):
    __slots__ = ("balance", "capital_requirement", "excess_capital", "buying_power", "securities", "total_security_notional_value", "total_security_available_value", "open_orders", "alternate_capital_requirement_currency", "alternate_capital_requirement", "unsettled_funds", "margin_requirement", "update_time")
    class SecuritiesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: SecurityEntry
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[SecurityEntry, _Mapping]] = ...) -> None: ...
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    CAPITAL_REQUIREMENT_FIELD_NUMBER: _ClassVar[int]
    EXCESS_CAPITAL_FIELD_NUMBER: _ClassVar[int]
    BUYING_POWER_FIELD_NUMBER: _ClassVar[int]
    SECURITIES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SECURITY_NOTIONAL_VALUE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SECURITY_AVAILABLE_VALUE_FIELD_NUMBER: _ClassVar[int]
    OPEN_ORDERS_FIELD_NUMBER: _ClassVar[int]
    ALTERNATE_CAPITAL_REQUIREMENT_CURRENCY_FIELD_NUMBER: _ClassVar[int]
    ALTERNATE_CAPITAL_REQUIREMENT_FIELD_NUMBER: _ClassVar[int]
    UNSETTLED_FUNDS_FIELD_NUMBER: _ClassVar[int]
    MARGIN_REQUIREMENT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    balance: str
    capital_requirement: str
    excess_capital: str
    buying_power: str
    securities: _containers.MessageMap[str, SecurityEntry]
    total_security_notional_value: str
    total_security_available_value: str
    open_orders: str
    alternate_capital_requirement_currency: str
    alternate_capital_requirement: str
    unsettled_funds: str
    margin_requirement: str
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, balance: _Optional[str] = ..., capital_requirement: _Optional[str] = ..., excess_capital: _Optional[str] = ..., buying_power: _Optional[str] = ..., securities: _Optional[_Mapping[str, SecurityEntry]] = ..., total_security_notional_value: _Optional[str] = ..., total_security_available_value: _Optional[str] = ..., open_orders: _Optional[str] = ..., alternate_capital_requirement_currency: _Optional[str] = ..., alternate_capital_requirement: _Optional[str] = ..., unsettled_funds: _Optional[str] = ..., margin_requirement: _Optional[str] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SecurityEntry(_message.Message):
    __slots__ = ("balance", "market_value", "haircut", "notional_value", "available_value")
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    MARKET_VALUE_FIELD_NUMBER: _ClassVar[int]
    HAIRCUT_FIELD_NUMBER: _ClassVar[int]
    NOTIONAL_VALUE_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_VALUE_FIELD_NUMBER: _ClassVar[int]
    balance: str
    market_value: str
    haircut: int
    notional_value: str
    available_value: str
    def __init__(self, balance: _Optional[str] = ..., market_value: _Optional[str] = ..., haircut: _Optional[int] = ..., notional_value: _Optional[str] = ..., available_value: _Optional[str] = ...) -> None: ...

class CreatePositionSubscriptionRequest(_message.Message):
    __slots__ = ("accounts",)
    ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    accounts: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, accounts: _Optional[_Iterable[str]] = ...) -> None: ...

class CreatePositionSubscriptionResponse(_message.Message):
    __slots__ = ("heartbeat", "snapshot", "update")
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_FIELD_NUMBER: _ClassVar[int]
    heartbeat: _types_pb2.Heartbeat
    snapshot: PositionSubscriptionSnapshot
    update: PositionSubscriptionUpdate
    def __init__(self, heartbeat: _Optional[_Union[_types_pb2.Heartbeat, _Mapping]] = ..., snapshot: _Optional[_Union[PositionSubscriptionSnapshot, _Mapping]] = ..., update: _Optional[_Union[PositionSubscriptionUpdate, _Mapping]] = ...) -> None: ...

class PositionSubscriptionSnapshot(_message.Message):
    __slots__ = ("positions",)
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    positions: _containers.RepeatedCompositeFieldContainer[Position]
    def __init__(self, positions: _Optional[_Iterable[_Union[Position, _Mapping]]] = ...) -> None: ...

class PositionSubscriptionUpdate(_message.Message):
    __slots__ = ("positions",)
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    positions: _containers.RepeatedCompositeFieldContainer[Position]
    def __init__(self, positions: _Optional[_Iterable[_Union[Position, _Mapping]]] = ...) -> None: ...
