import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from polyinfra.wire.us.polymarket.v1 import enums_pb2 as _enums_pb2
from polyinfra.wire.us.polymarket.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Order(_message.Message):
    __slots__ = ("id", "type", "side", "order_qty", "symbol", "clord_id", "time_in_force", "account", "cum_qty", "avg_px", "leaves_qty", "state", "participant", "price", "insert_time", "stop_price", "min_qty", "create_time", "all_or_none", "cross_id", "host_cross_id", "submitting_participant", "client_account_id", "client_participant_id", "parent_order_id", "commissions_basis_points", "participate_dont_initiate", "cash_order_qty", "strict_limit", "good_till_time", "best_limit", "immediately_executable_limit", "last_trade_id", "commission_notional_total_collected", "self_match_prevention_instruction", "order_capacity", "ignore_price_validity_checks", "last_transact_time", "price_scale", "fractional_quantity_scale", "price_to_quantity_filled", "maker_commissions_basis_points", "manual_order_indicator")
    class PriceToQuantityFilledEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: int
        def __init__(self, key: _Optional[int] = ..., value: _Optional[int] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    ORDER_QTY_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    CLORD_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_IN_FORCE_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    CUM_QTY_FIELD_NUMBER: _ClassVar[int]
    AVG_PX_FIELD_NUMBER: _ClassVar[int]
    LEAVES_QTY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    INSERT_TIME_FIELD_NUMBER: _ClassVar[int]
    STOP_PRICE_FIELD_NUMBER: _ClassVar[int]
    MIN_QTY_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ALL_OR_NONE_FIELD_NUMBER: _ClassVar[int]
    CROSS_ID_FIELD_NUMBER: _ClassVar[int]
    HOST_CROSS_ID_FIELD_NUMBER: _ClassVar[int]
    SUBMITTING_PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_PARTICIPANT_ID_FIELD_NUMBER: _ClassVar[int]
    PARENT_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    COMMISSIONS_BASIS_POINTS_FIELD_NUMBER: _ClassVar[int]
    PARTICIPATE_DONT_INITIATE_FIELD_NUMBER: _ClassVar[int]
    CASH_ORDER_QTY_FIELD_NUMBER: _ClassVar[int]
    STRICT_LIMIT_FIELD_NUMBER: _ClassVar[int]
    GOOD_TILL_TIME_FIELD_NUMBER: _ClassVar[int]
    BEST_LIMIT_FIELD_NUMBER: _ClassVar[int]
    IMMEDIATELY_EXECUTABLE_LIMIT_FIELD_NUMBER: _ClassVar[int]
    LAST_TRADE_ID_FIELD_NUMBER: _ClassVar[int]
    COMMISSION_NOTIONAL_TOTAL_COLLECTED_FIELD_NUMBER: _ClassVar[int]
    SELF_MATCH_PREVENTION_INSTRUCTION_FIELD_NUMBER: _ClassVar[int]
    ORDER_CAPACITY_FIELD_NUMBER: _ClassVar[int]
    IGNORE_PRICE_VALIDITY_CHECKS_FIELD_NUMBER: _ClassVar[int]
    LAST_TRANSACT_TIME_FIELD_NUMBER: _ClassVar[int]
    PRICE_SCALE_FIELD_NUMBER: _ClassVar[int]
    FRACTIONAL_QUANTITY_SCALE_FIELD_NUMBER: _ClassVar[int]
    PRICE_TO_QUANTITY_FILLED_FIELD_NUMBER: _ClassVar[int]
    MAKER_COMMISSIONS_BASIS_POINTS_FIELD_NUMBER: _ClassVar[int]
    MANUAL_ORDER_INDICATOR_FIELD_NUMBER: _ClassVar[int]
    id: str
    type: _enums_pb2.OrderType
    side: _enums_pb2.Side
    order_qty: int
    symbol: str
    clord_id: str
    time_in_force: _enums_pb2.TimeInForce
    account: str
    cum_qty: int
    avg_px: int
    leaves_qty: int
    state: _enums_pb2.OrderState
    participant: str
    price: int
    insert_time: _timestamp_pb2.Timestamp
    stop_price: int
    min_qty: int
    create_time: _timestamp_pb2.Timestamp
    all_or_none: bool
    cross_id: str
    host_cross_id: str
    submitting_participant: str
    client_account_id: str
    client_participant_id: str
    parent_order_id: str
    commissions_basis_points: str
    participate_dont_initiate: bool
    cash_order_qty: int
    strict_limit: bool
    good_till_time: _timestamp_pb2.Timestamp
    best_limit: bool
    immediately_executable_limit: bool
    last_trade_id: str
    commission_notional_total_collected: int
    self_match_prevention_instruction: _enums_pb2.SelfMatchPreventionInstruction
    order_capacity: _enums_pb2.OrderCapacity
    ignore_price_validity_checks: bool
    last_transact_time: _timestamp_pb2.Timestamp
    price_scale: int
    fractional_quantity_scale: int
    price_to_quantity_filled: _containers.ScalarMap[int, int]
    maker_commissions_basis_points: str
    manual_order_indicator: _enums_pb2.ManualOrderIndicator
    def __init__(self, id: _Optional[str] = ..., type: _Optional[_Union[_enums_pb2.OrderType, str]] = ..., side: _Optional[_Union[_enums_pb2.Side, str]] = ..., order_qty: _Optional[int] = ..., symbol: _Optional[str] = ..., clord_id: _Optional[str] = ..., time_in_force: _Optional[_Union[_enums_pb2.TimeInForce, str]] = ..., account: _Optional[str] = ..., cum_qty: _Optional[int] = ..., avg_px: _Optional[int] = ..., leaves_qty: _Optional[int] = ..., state: _Optional[_Union[_enums_pb2.OrderState, str]] = ..., participant: _Optional[str] = ..., price: _Optional[int] = ..., insert_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., stop_price: _Optional[int] = ..., min_qty: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., all_or_none: _Optional[bool] = ..., cross_id: _Optional[str] = ..., host_cross_id: _Optional[str] = ..., submitting_participant: _Optional[str] = ..., client_account_id: _Optional[str] = ..., client_participant_id: _Optional[str] = ..., parent_order_id: _Optional[str] = ..., commissions_basis_points: _Optional[str] = ..., participate_dont_initiate: _Optional[bool] = ..., cash_order_qty: _Optional[int] = ..., strict_limit: _Optional[bool] = ..., good_till_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., best_limit: _Optional[bool] = ..., immediately_executable_limit: _Optional[bool] = ..., last_trade_id: _Optional[str] = ..., commission_notional_total_collected: _Optional[int] = ..., self_match_prevention_instruction: _Optional[_Union[_enums_pb2.SelfMatchPreventionInstruction, str]] = ..., order_capacity: _Optional[_Union[_enums_pb2.OrderCapacity, str]] = ..., ignore_price_validity_checks: _Optional[bool] = ..., last_transact_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., price_scale: _Optional[int] = ..., fractional_quantity_scale: _Optional[int] = ..., price_to_quantity_filled: _Optional[_Mapping[int, int]] = ..., maker_commissions_basis_points: _Optional[str] = ..., manual_order_indicator: _Optional[_Union[_enums_pb2.ManualOrderIndicator, str]] = ...) -> None: ...

class Execution(_message.Message):
    __slots__ = ("id", "order", "last_shares", "last_px", "type", "text", "order_reject_reason", "transact_time", "leg_prices", "trade_id", "aggressor", "commission_notional_collected", "unsolicited_cancel_reason", "trace_id", "commission_spread_px", "transact_trade_date", "block_trade_indicator")
    ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    LAST_SHARES_FIELD_NUMBER: _ClassVar[int]
    LAST_PX_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    ORDER_REJECT_REASON_FIELD_NUMBER: _ClassVar[int]
    TRANSACT_TIME_FIELD_NUMBER: _ClassVar[int]
    LEG_PRICES_FIELD_NUMBER: _ClassVar[int]
    TRADE_ID_FIELD_NUMBER: _ClassVar[int]
    AGGRESSOR_FIELD_NUMBER: _ClassVar[int]
    COMMISSION_NOTIONAL_COLLECTED_FIELD_NUMBER: _ClassVar[int]
    UNSOLICITED_CANCEL_REASON_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    COMMISSION_SPREAD_PX_FIELD_NUMBER: _ClassVar[int]
    TRANSACT_TRADE_DATE_FIELD_NUMBER: _ClassVar[int]
    BLOCK_TRADE_INDICATOR_FIELD_NUMBER: _ClassVar[int]
    id: str
    order: Order
    last_shares: int
    last_px: int
    type: _enums_pb2.ExecutionType
    text: str
    order_reject_reason: _enums_pb2.OrdRejectReason
    transact_time: _timestamp_pb2.Timestamp
    leg_prices: _containers.RepeatedCompositeFieldContainer[LegPrice]
    trade_id: str
    aggressor: bool
    commission_notional_collected: int
    unsolicited_cancel_reason: _enums_pb2.UnsolicitedCxlReason
    trace_id: str
    commission_spread_px: int
    transact_trade_date: _types_pb2.Date
    block_trade_indicator: bool
    def __init__(self, id: _Optional[str] = ..., order: _Optional[_Union[Order, _Mapping]] = ..., last_shares: _Optional[int] = ..., last_px: _Optional[int] = ..., type: _Optional[_Union[_enums_pb2.ExecutionType, str]] = ..., text: _Optional[str] = ..., order_reject_reason: _Optional[_Union[_enums_pb2.OrdRejectReason, str]] = ..., transact_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., leg_prices: _Optional[_Iterable[_Union[LegPrice, _Mapping]]] = ..., trade_id: _Optional[str] = ..., aggressor: _Optional[bool] = ..., commission_notional_collected: _Optional[int] = ..., unsolicited_cancel_reason: _Optional[_Union[_enums_pb2.UnsolicitedCxlReason, str]] = ..., trace_id: _Optional[str] = ..., commission_spread_px: _Optional[int] = ..., transact_trade_date: _Optional[_Union[_types_pb2.Date, _Mapping]] = ..., block_trade_indicator: _Optional[bool] = ...) -> None: ...

class LegPrice(_message.Message):
    __slots__ = ("symbol", "anchor", "px", "qty", "side", "reference_px")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    ANCHOR_FIELD_NUMBER: _ClassVar[int]
    PX_FIELD_NUMBER: _ClassVar[int]
    QTY_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_PX_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    anchor: bool
    px: int
    qty: int
    side: str
    reference_px: int
    def __init__(self, symbol: _Optional[str] = ..., anchor: _Optional[bool] = ..., px: _Optional[int] = ..., qty: _Optional[int] = ..., side: _Optional[str] = ..., reference_px: _Optional[int] = ...) -> None: ...

class Trade(_message.Message):
    __slots__ = ("id", "aggressor", "passive", "trade_type", "state", "reporting_counterparty", "text", "trade_link_id", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    AGGRESSOR_FIELD_NUMBER: _ClassVar[int]
    PASSIVE_FIELD_NUMBER: _ClassVar[int]
    TRADE_TYPE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REPORTING_COUNTERPARTY_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TRADE_LINK_ID_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    id: str
    aggressor: Execution
    passive: Execution
    trade_type: _enums_pb2.TradeType
    state: _enums_pb2.TradeState
    reporting_counterparty: _enums_pb2.Side
    text: str
    trade_link_id: str
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, id: _Optional[str] = ..., aggressor: _Optional[_Union[Execution, _Mapping]] = ..., passive: _Optional[_Union[Execution, _Mapping]] = ..., trade_type: _Optional[_Union[_enums_pb2.TradeType, str]] = ..., state: _Optional[_Union[_enums_pb2.TradeState, str]] = ..., reporting_counterparty: _Optional[_Union[_enums_pb2.Side, str]] = ..., text: _Optional[str] = ..., trade_link_id: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...
