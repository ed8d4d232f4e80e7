import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from polyinfra.wire.us.polymarket.v1 import enums_pb2 as _enums_pb2
from polyinfra.wire.us.polymarket.v1 import orders_pb2 as _orders_pb2
from polyinfra.wire.us.polymarket.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class InsertOrderRequest(_message.Message):
    __slots__ = ("type", "side", "order_qty", "symbol", "price", "time_in_force", "clord_id", "account", "stop_price", "min_qty", "self_match_prevention_id", "quote", "all_or_none", "session_id", "user", "client_account_id", "client_participant_id", "participate_dont_initiate", "cash_order_qty", "strict_limit", "good_till_time", "best_limit", "immediately_executable_limit", "self_match_prevention_instruction", "order_capacity", "ignore_price_validity_checks", "manual_order_indicator")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    ORDER_QTY_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    TIME_IN_FORCE_FIELD_NUMBER: _ClassVar[int]
    CLORD_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    STOP_PRICE_FIELD_NUMBER: _ClassVar[int]
    MIN_QTY_FIELD_NUMBER: _ClassVar[int]
    SELF_MATCH_PREVENTION_ID_FIELD_NUMBER: _ClassVar[int]
    QUOTE_FIELD_NUMBER: _ClassVar[int]
    ALL_OR_NONE_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_PARTICIPANT_ID_FIELD_NUMBER: _ClassVar[int]
    PARTICIPATE_DONT_INITIATE_FIELD_NUMBER: _ClassVar[int]
    CASH_ORDER_QTY_FIELD_NUMBER: _ClassVar[int]
    STRICT_LIMIT_FIELD_NUMBER: _ClassVar[int]
    GOOD_TILL_TIME_FIELD_NUMBER: _ClassVar[int]
    BEST_LIMIT_FIELD_NUMBER: _ClassVar[int]
    IMMEDIATELY_EXECUTABLE_LIMIT_FIELD_NUMBER: _ClassVar[int]
    SELF_MATCH_PREVENTION_INSTRUCTION_FIELD_NUMBER: _ClassVar[int]
    ORDER_CAPACITY_FIELD_NUMBER: _ClassVar[int]
    IGNORE_PRICE_VALIDITY_CHECKS_FIELD_NUMBER: _ClassVar[int]
    MANUAL_ORDER_INDICATOR_FIELD_NUMBER: _ClassVar[int]
    type: _enums_pb2.OrderType
    side: _enums_pb2.Side
    order_qty: int
    symbol: str
    price: int
    time_in_force: _enums_pb2.TimeInForce
    clord_id: str
    account: str
    stop_price: int
    min_qty: int
    self_match_prevention_id: str
    quote: str
    all_or_none: bool
    session_id: str
    user: str
    client_account_id: str
    client_participant_id: str
    participate_dont_initiate: bool
    cash_order_qty: int
    strict_limit: bool
    good_till_time: _timestamp_pb2.Timestamp
    best_limit: bool
    immediately_executable_limit: bool
    self_match_prevention_instruction: _enums_pb2.SelfMatchPreventionInstruction
    order_capacity: _enums_pb2.OrderCapacity
    ignore_price_validity_checks: bool
    manual_order_indicator: _enums_pb2.ManualOrderIndicator
    def __init__(self, type: _Optional[_Union[_enums_pb2.OrderType, str]] = ..., side: _Optional[_Union[_enums_pb2.Side, str]] = ..., order_qty: _Optional[int] = ..., symbol: _Optional[str] = ..., price: _Optional[int] = ..., time_in_force: _Optional[_Union[_enums_pb2.TimeInForce, str]] = ..., clord_id: _Optional[str] = ..., account: _Optional[str] = ..., stop_price: _Optional[int] = ..., min_qty: _Optional[int] = ..., self_match_prevention_id: _Optional[str] = ..., quote: _Optional[str] = ..., all_or_none: _Optional[bool] = ..., session_id: _Optional[str] = ..., user: _Optional[str] = ..., client_account_id: _Optional[str] = ..., client_participant_id: _Optional[str] = ..., participate_dont_initiate: _Optional[bool] = ..., cash_order_qty: _Optional[int] = ..., strict_limit: _Optional[bool] = ..., good_till_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., best_limit: _Optional[bool] = ..., immediately_executable_limit: _Optional[bool] = ..., self_match_prevention_instruction: _Optional[_Union[_enums_pb2.SelfMatchPreventionInstruction, str]] = ..., order_capacity: _Optional[_Union[_enums_pb2.OrderCapacity, str]] = ..., ignore_price_validity_checks: _Optional[bool] = ..., manual_order_indicator: _Optional[_Union[_enums_pb2.ManualOrderIndicator, str]] = ...) -> None: ...

class InsertOrderResponse(_message.Message):
    __slots__ = ("order_id",)
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    def __init__(self, order_id: _Optional[str] = ...) -> None: ...

class InsertOrderListRequest(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[InsertOrderRequest]
    def __init__(self, requests: _Optional[_Iterable[_Union[InsertOrderRequest, _Mapping]]] = ...) -> None: ...

class InsertOrderListResponse(_message.Message):
    __slots__ = ("responses",)
    RESPONSES_FIELD_NUMBER: _ClassVar[int]
    responses: _containers.RepeatedCompositeFieldContainer[InsertOrderResponse]
    def __init__(self, responses: _Optional[_Iterable[_Union[InsertOrderResponse, _Mapping]]] = ...) -> None: ...

class InsertOrderCrossRequest(_message.Message):
    __slots__ = ("requests", "cross_type", "cross_id", "cross_prioritized_side")
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    CROSS_TYPE_FIELD_NUMBER: _ClassVar[int]
    CROSS_ID_FIELD_NUMBER: _ClassVar[int]
    CROSS_PRIORITIZED_SIDE_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[InsertOrderRequest]
    cross_type: _enums_pb2.CrossType
    cross_id: str
    cross_prioritized_side: _enums_pb2.Side
    def __init__(self, requests: _Optional[_Iterable[_Union[InsertOrderRequest, _Mapping]]] = ..., cross_type: _Optional[_Union[_enums_pb2.CrossType, str]] = ..., cross_id: _Optional[str] = ..., cross_prioritized_side: _Optional[_Union[_enums_pb2.Side, str]] = ...) -> None: ...

class InsertOrderCrossResponse(_message.Message):
    __slots__ = ("responses",)
    RESPONSES_FIELD_NUMBER: _ClassVar[int]
    responses: _containers.RepeatedCompositeFieldContainer[InsertOrderResponse]
    def __init__(self, responses: _Optional[_Iterable[_Union[InsertOrderResponse, _Mapping]]] = ...) -> None: ...

class CancelOrderRequest(_message.Message):
    __slots__ = ("order_id", "clord_id", "symbol")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    CLORD_ID_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    clord_id: str
    symbol: str
    def __init__(self, order_id: _Optional[str] = ..., clord_id: _Optional[str] = ..., symbol: _Optional[str] = ...) -> None: ...

class CancelOrderResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CancelOrderListRequest(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[CancelOrderRequest]
    def __init__(self, requests: _Optional[_Iterable[_Union[CancelOrderRequest, _Mapping]]] = ...) -> None: ...

class CancelOrderListResponse(_message.Message):
    __slots__ = ("responses",)
    RESPONSES_FIELD_NUMBER: _ClassVar[int]
    responses: _containers.RepeatedCompositeFieldContainer[CancelOrderResponse]
    def __init__(self, responses: _Optional[_Iterable[_Union[CancelOrderResponse, _Mapping]]] = ...) -> None: ...

class CancelReplaceOrderRequest(_message.Message):
    __slots__ = ("order_id", "clord_id", "symbol", "price", "order_qty", "time_in_force", "stop_price", "min_qty", "all_or_none", "participate_dont_initiate", "strict_limit", "good_till_time", "best_limit", "immediately_executable_limit", "manual_order_indicator")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    CLORD_ID_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    ORDER_QTY_FIELD_NUMBER: _ClassVar[int]
    TIME_IN_FORCE_FIELD_NUMBER: _ClassVar[int]
    STOP_PRICE_FIELD_NUMBER: _ClassVar[int]
    MIN_QTY_FIELD_NUMBER: _ClassVar[int]
    ALL_OR_NONE_FIELD_NUMBER: _ClassVar[int]
    PARTICIPATE_DONT_INITIATE_FIELD_NUMBER: _ClassVar[int]
    STRICT_LIMIT_FIELD_NUMBER: _ClassVar[int]
    GOOD_TILL_TIME_FIELD_NUMBER: _ClassVar[int]
    BEST_LIMIT_FIELD_NUMBER: _ClassVar[int]
    IMMEDIATELY_EXECUTABLE_LIMIT_FIELD_NUMBER: _ClassVar[int]
    MANUAL_ORDER_INDICATOR_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    clord_id: str
    symbol: str
    price: int
    order_qty: int
    time_in_force: _enums_pb2.TimeInForce
    stop_price: int
    min_qty: int
    all_or_none: bool
    participate_dont_initiate: bool
    strict_limit: bool
    good_till_time: _timestamp_pb2.Timestamp
    best_limit: bool
    immediately_executable_limit: bool
    manual_order_indicator: _enums_pb2.ManualOrderIndicator
    def __init__(self, order_id: _Optional[str] = ..., clord_id: _Optional[str] = ..., symbol: _Optional[str] = ..., price: _Optional[int] = ..., order_qty: _Optional[int] = ..., time_in_force: _Optional[_Union[_enums_pb2.TimeInForce, str]] = ..., stop_price: _Optional[int] = ..., min_qty: _Optional[int] = ..., all_or_none: _Optional[bool] = ..., participate_dont_initiate: _Optional[bool] = ..., strict_limit: _Optional[bool] = ..., good_till_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., best_limit: _Optional[bool] = ..., immediately_executable_limit: _Optional[bool] = ..., manual_order_indicator: _Optional[_Union[_enums_pb2.ManualOrderIndicator, str]] = ...) -> None: ...

class CancelReplaceOrderResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CancelReplaceOrderListRequest(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[CancelReplaceOrderRequest]
    def __init__(self, requests: _Optional[_Iterable[_Union[CancelReplaceOrderRequest, _Mapping]]] = ...) -> None: ...

class CancelReplaceOrderListResponse(_message.Message):
    __slots__ = ("responses",)
    RESPONSES_FIELD_NUMBER: _ClassVar[int]
    responses: _containers.RepeatedCompositeFieldContainer[CancelReplaceOrderResponse]
    def __init__(self, responses: _Optional[_Iterable[_Union[CancelReplaceOrderResponse, _Mapping]]] = ...) -> None: ...

class PreviewOrderRequest(_message.Message):
    __slots__ = ("request",)
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    request: InsertOrderRequest
    def __init__(self, request: _Optional[_Union[InsertOrderRequest, _Mapping]] = ...) -> None: ...

class PreviewOrderResponse(_message.Message):
    __slots__ = ("preview_order",)
    PREVIEW_ORDER_FIELD_NUMBER: _ClassVar[int]
    preview_order: _orders_pb2.Order
    def __init__(self, preview_order: _Optional[_Union[_orders_pb2.Order, _Mapping]] = ...) -> None: ...

class GetOpenOrdersRequest(_message.Message):
    __slots__ = ("symbols", "accounts")
    SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    symbols: _containers.RepeatedScalarFieldContainer[str]
    accounts: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, symbols: _Optional[_Iterable[str]] = ..., accounts: _Optional[_Iterable[str]] = ...) -> None: ...

class GetOpenOrdersResponse(_message.Message):
    __slots__ = ("orders",)
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    orders: _containers.RepeatedCompositeFieldContainer[_orders_pb2.Order]
    def __init__(self, orders: _Optional[_Iterable[_Union[_orders_pb2.Order, _Mapping]]] = ...) -> None: ...

class CreateOrderSubscriptionRequest(_message.Message):
    __slots__ = ("symbols", "accounts", "snapshot_only")
    SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_ONLY_FIELD_NUMBER: _ClassVar[int]
    symbols: _containers.RepeatedScalarFieldContainer[str]
    accounts: _containers.RepeatedScalarFieldContainer[str]
    snapshot_only: bool
    def __init__(self, symbols: _Optional[_Iterable[str]] = ..., accounts: _Optional[_Iterable[str]] = ..., snapshot_only: _Optional[bool] = ...) -> None: ...

class CreateOrderSubscriptionResponse(_message.Message):
    __slots__ = ("heartbeat", "snapshot", "update", "session_id", "processed_sent_time")
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PROCESSED_SENT_TIME_FIELD_NUMBER: _ClassVar[int]
    heartbeat: _types_pb2.Heartbeat
    snapshot: OrderSubscriptionSnapshot
    update: OrderSubscriptionUpdate
    session_id: str
    processed_sent_time: _timestamp_pb2.Timestamp
    def __init__(self, heartbeat: _Optional[_Union[_types_pb2.Heartbeat, _Mapping]] = ..., snapshot: _Optional[_Union[OrderSubscriptionSnapshot, _Mapping]] = ..., update: _Optional[_Union[OrderSubscriptionUpdate, _Mapping]] = ..., session_id: _Optional[str] = ..., processed_sent_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class OrderSubscriptionSnapshot(_message.Message):
    __slots__ = ("orders",)
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    orders: _containers.RepeatedCompositeFieldContainer[_orders_pb2.Order]
    def __init__(self, orders: _Optional[_Iterable[_Union[_orders_pb2.Order, _Mapping]]] = ...) -> None: ...

class OrderSubscriptionUpdate(_message.Message):
    __slots__ = ("executions", "cancel_reject")
    EXECUTIONS_FIELD_NUMBER: _ClassVar[int]
    CANCEL_REJECT_FIELD_NUMBER: _ClassVar[int]
    executions: _containers.RepeatedCompositeFieldContainer[_orders_pb2.Execution]
    cancel_reject: CancelReject
    def __init__(self, executions: _Optional[_Iterable[_Union[_orders_pb2.Execution, _Mapping]]] = ..., cancel_reject: _Optional[_Union[CancelReject, _Mapping]] = ...) -> None: ...

class CancelReject(_message.Message):
    __slots__ = ("order_id", "clord_id", "reject_reason", "text", "is_replace", "transact_time")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    CLORD_ID_FIELD_NUMBER: _ClassVar[int]
    REJECT_REASON_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    IS_REPLACE_FIELD_NUMBER: _ClassVar[int]
    TRANSACT_TIME_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    clord_id: str
    reject_reason: _enums_pb2.CxlRejReason
    text: str
    is_replace: bool
    transact_time: _timestamp_pb2.Timestamp
    def __init__(self, order_id: _Optional[str] = ..., clord_id: _Optional[str] = ..., reject_reason: _Optional[_Union[_enums_pb2.CxlRejReason, str]] = ..., text: _Optional[str] = ..., is_replace: _Optional[bool] = ..., transact_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
