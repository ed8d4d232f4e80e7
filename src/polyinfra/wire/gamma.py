"""Gamma API wire schemas (venue notes: Gamma API): markets, events, series, tags, public search.

Gamma speaks camelCase with a few irregular keys (``questionID``, ``negRiskMarketID``,
``submitted_by``); Python names are snake_case and the wire keys stay exact. Every field is
optional: Gamma omits null-valued keys, so an absent key proves nothing (venue notes: Gamma API). Fields seen
as ``null`` (``feeType``, ``feeSchedule``, ``category``) also admit ``None``.

Values are kept as sent. ``outcomes``, ``outcomePrices``, ``clobTokenIds`` and
``umaResolutionStatuses`` arrive as JSON-encoded strings (``"[\\"Yes\\", \\"No\\"]"``) and stay
strings here; decoding them is the core's job. JSON numbers that are quantities (prices, sizes,
volumes, rates) are ``Decimal``, exact from their text; counts, ids, bps and seconds are ``int``.
Market-level ``volume``/``liquidity`` are strings, event-level ones numbers (venue notes: Gamma API).
Encode with :data:`polyinfra.wire.clob_rest.JSON_ENCODER` to send the numbers back as numbers.
"""

from __future__ import annotations

from decimal import Decimal

from msgspec import UNSET, Struct, UnsetType, field

__all__ = [
    "GammaClobReward",
    "GammaEvent",
    "GammaEventMetadata",
    "GammaFeeSchedule",
    "GammaKeysetMarkets",
    "GammaMarket",
    "GammaSearchPagination",
    "GammaSearchResponse",
    "GammaSeries",
    "GammaTag",
]


class _Gamma(Struct, rename="camel", omit_defaults=True, gc=False):
    """Gamma objects: camelCase keys, every one optional."""


class GammaFeeSchedule(_Gamma):
    """A market's fee parameters, the authoritative ones (venue notes: Fees); ``takerOnly`` is always true."""

    rate: Decimal | UnsetType = UNSET
    exponent: Decimal | UnsetType = UNSET
    taker_only: bool | UnsetType = UNSET
    rebate_rate: Decimal | UnsetType = UNSET


class GammaClobReward(_Gamma):
    """One liquidity-reward programme of a market (``clobRewards[]``)."""

    id: str | UnsetType = UNSET
    condition_id: str | UnsetType = UNSET
    asset_address: str | UnsetType = UNSET
    rewards_amount: Decimal | UnsetType = UNSET
    rewards_daily_rate: Decimal | UnsetType = UNSET
    start_date: str | UnsetType = UNSET
    end_date: str | UnsetType = UNSET


class GammaTag(_Gamma):
    """A tag (``/tags``, and ``tags[]`` of events and of markets fetched with ``include_tag``)."""

    id: str | UnsetType = UNSET
    label: str | UnsetType = UNSET
    slug: str | UnsetType = UNSET
    force_show: bool | UnsetType = UNSET
    force_hide: bool | UnsetType = UNSET
    published_at: str | UnsetType = UNSET
    created_by: int | UnsetType = UNSET
    updated_by: int | UnsetType = UNSET
    created_at: str | UnsetType = UNSET
    updated_at: str | UnsetType = UNSET
    requires_translation: bool | UnsetType = UNSET
    is_carousel: bool | UnsetType = UNSET


class GammaEventMetadata(Struct, omit_defaults=True, gc=False):
    """``eventMetadata`` of sports events; its keys mix snake_case and camelCase on the wire."""

    context_description: str | UnsetType = UNSET
    context_requires_regen: bool | UnsetType = UNSET
    context_updated_at: str | UnsetType = UNSET
    league: str | UnsetType = UNSET
    league_tier: str | UnsetType = field(default=UNSET, name="leagueTier")
    tournament: str | UnsetType = UNSET


class GammaMarket(_Gamma):
    """A Gamma market (``/markets``, ``/markets/{id}``, ``/markets/slug/{slug}``, ``events[].markets``).

    ``conditionId`` is the CLOB ``market``; ``clobTokenIds[i]`` trades ``outcomes[i]``.
    ``makerBaseFee``/``takerBaseFee`` are legacy V1 authorization bps, not the fee charged; the fee
    is ``feeSchedule`` (venue notes: Fees).
    """

    id: str | UnsetType = UNSET
    question: str | UnsetType = UNSET
    condition_id: str | UnsetType = UNSET
    slug: str | UnsetType = UNSET
    resolution_source: str | UnsetType = UNSET
    end_date: str | UnsetType = UNSET
    liquidity: str | UnsetType = UNSET
    start_date: str | UnsetType = UNSET
    image: str | UnsetType = UNSET
    icon: str | UnsetType = UNSET
    description: str | UnsetType = UNSET
    outcomes: str | UnsetType = UNSET
    outcome_prices: str | UnsetType = UNSET
    volume: str | UnsetType = UNSET
    active: bool | UnsetType = UNSET
    closed: bool | UnsetType = UNSET
    market_maker_address: str | UnsetType = UNSET
    created_at: str | UnsetType = UNSET
    updated_at: str | UnsetType = UNSET
    new: bool | UnsetType = UNSET
    featured: bool | UnsetType = UNSET
    archived: bool | UnsetType = UNSET
    restricted: bool | UnsetType = UNSET
    group_item_threshold: str | UnsetType = UNSET
    question_id: str | UnsetType = field(default=UNSET, name="questionID")
    enable_order_book: bool | UnsetType = UNSET
    order_price_min_tick_size: Decimal | UnsetType = UNSET
    order_min_size: Decimal | UnsetType = UNSET
    volume_num: Decimal | UnsetType = UNSET
    liquidity_num: Decimal | UnsetType = UNSET
    end_date_iso: str | UnsetType = UNSET
    start_date_iso: str | UnsetType = UNSET
    has_reviewed_dates: bool | UnsetType = UNSET
    volume24hr: Decimal | UnsetType = UNSET
    volume1wk: Decimal | UnsetType = UNSET
    volume1mo: Decimal | UnsetType = UNSET
    volume1yr: Decimal | UnsetType = UNSET
    # A JSON-encoded string from the live server; the hand-trimmed captures (market_slug.json,
    # markets_list.json) carry a real list instead.
    clob_token_ids: str | list[str] | UnsetType = UNSET
    volume24hr_clob: Decimal | UnsetType = UNSET
    volume1wk_clob: Decimal | UnsetType = UNSET
    volume1mo_clob: Decimal | UnsetType = UNSET
    volume1yr_clob: Decimal | UnsetType = UNSET
    volume_clob: Decimal | UnsetType = UNSET
    liquidity_clob: Decimal | UnsetType = UNSET
    maker_base_fee: int | UnsetType = UNSET
    taker_base_fee: int | UnsetType = UNSET
    accepting_orders: bool | UnsetType = UNSET
    # Not in the spec's Market schema, but on the wire in every market (venue notes: Gamma API).
    neg_risk: bool | UnsetType = UNSET
    # Parent events: sent on top-level market rows, not on markets nested inside events.
    events: list[GammaEvent] | UnsetType = UNSET
    ready: bool | UnsetType = UNSET
    funded: bool | UnsetType = UNSET
    accepting_orders_timestamp: str | UnsetType = UNSET
    cyom: bool | UnsetType = UNSET
    competitive: Decimal | UnsetType = UNSET
    pager_duty_notification_enabled: bool | UnsetType = UNSET
    approved: bool | UnsetType = UNSET
    rewards_min_size: Decimal | UnsetType = UNSET
    rewards_max_spread: Decimal | UnsetType = UNSET
    spread: Decimal | UnsetType = UNSET
    last_trade_price: Decimal | UnsetType = UNSET
    best_bid: Decimal | UnsetType = UNSET
    best_ask: Decimal | UnsetType = UNSET
    automatically_active: bool | UnsetType = UNSET
    clear_book_on_start: bool | UnsetType = UNSET
    show_gmp_series: bool | UnsetType = UNSET
    show_gmp_outcome: bool | UnsetType = UNSET
    manual_activation: bool | UnsetType = UNSET
    neg_risk_other: bool | UnsetType = UNSET
    uma_resolution_statuses: str | UnsetType = UNSET
    pending_deployment: bool | UnsetType = UNSET
    deploying: bool | UnsetType = UNSET
    rfq_enabled: bool | UnsetType = UNSET
    event_start_time: str | UnsetType = UNSET
    holding_rewards_enabled: bool | UnsetType = UNSET
    fees_enabled: bool | UnsetType = UNSET
    requires_translation: bool | UnsetType = UNSET
    maker_rebates_fee_share_bps: int | UnsetType = UNSET
    # "crypto_fees_v2", "sports_fees_v3", ... or null on fee-free markets (venue notes: Fees).
    fee_type: str | UnsetType | None = UNSET
    submitted_by: str | UnsetType = field(default=UNSET, name="submitted_by")
    resolved_by: str | UnsetType = UNSET
    group_item_title: str | UnsetType = UNSET
    uma_bond: str | UnsetType = UNSET
    uma_reward: str | UnsetType = UNSET
    custom_liveness: int | UnsetType = UNSET
    neg_risk_market_id: str | UnsetType = field(default=UNSET, name="negRiskMarketID")
    neg_risk_request_id: str | UnsetType = field(default=UNSET, name="negRiskRequestID")
    one_day_price_change: Decimal | UnsetType = UNSET
    one_week_price_change: Decimal | UnsetType = UNSET
    one_month_price_change: Decimal | UnsetType = UNSET
    series_color: str | UnsetType = UNSET
    deploying_timestamp: str | UnsetType = UNSET
    clob_rewards: list[GammaClobReward] | UnsetType = UNSET
    closed_time: str | UnsetType = UNSET
    game_start_time: str | UnsetType = UNSET
    one_hour_price_change: Decimal | UnsetType = UNSET
    uma_end_date: str | UnsetType = UNSET
    uma_resolution_status: str | UnsetType = UNSET
    automatically_resolved: bool | UnsetType = UNSET
    twitter_card_image: str | UnsetType = UNSET
    # Often null on modern markets (venue notes: Gamma API).
    category: str | UnsetType | None = UNSET
    lower_bound: str | UnsetType = UNSET
    upper_bound: str | UnsetType = UNSET
    market_type: str | UnsetType = UNSET
    updated_by: int | UnsetType = UNSET
    ready_for_cron: bool | UnsetType = UNSET
    fpmm_live: bool | UnsetType = UNSET
    volume1wk_amm: Decimal | UnsetType = UNSET
    volume1mo_amm: Decimal | UnsetType = UNSET
    volume1yr_amm: Decimal | UnsetType = UNSET
    creator: str | UnsetType = UNSET
    one_year_price_change: Decimal | UnsetType = UNSET
    mailchimp_tag: str | UnsetType = UNSET
    fee_schedule: GammaFeeSchedule | UnsetType | None = UNSET
    # A string on markets, an int on events (gamma_market_sports_market_*.json).
    game_id: str | UnsetType = UNSET
    seconds_delay: int | UnsetType = UNSET
    sports_market_type: str | UnsetType = UNSET
    line: Decimal | UnsetType = UNSET
    liquidity_amm: Decimal | UnsetType = UNSET
    # Only with include_tag=true (venue notes: Gamma API).
    tags: list[GammaTag] | UnsetType = UNSET
    # The hand-edited markets_list.json capture spells it questionId; the live key is questionID.
    question_id_edited: str | UnsetType = field(default=UNSET, name="questionId")
    # /markets/{id} answers carry a JSON-schema URL (venue notes: Gamma API).
    schema: str | UnsetType = field(default=UNSET, name="$schema")


class GammaSeries(_Gamma):
    """A series of recurring events (``/series``, ``events[].series``)."""

    id: str | UnsetType = UNSET
    ticker: str | UnsetType = UNSET
    slug: str | UnsetType = UNSET
    title: str | UnsetType = UNSET
    series_type: str | UnsetType = UNSET
    recurrence: str | UnsetType = UNSET
    image: str | UnsetType = UNSET
    icon: str | UnsetType = UNSET
    active: bool | UnsetType = UNSET
    closed: bool | UnsetType = UNSET
    archived: bool | UnsetType = UNSET
    featured: bool | UnsetType = UNSET
    restricted: bool | UnsetType = UNSET
    created_at: str | UnsetType = UNSET
    updated_at: str | UnsetType = UNSET
    volume24hr: Decimal | UnsetType = UNSET
    volume: Decimal | UnsetType = UNSET
    liquidity: Decimal | UnsetType = UNSET
    comment_count: int | UnsetType = UNSET
    requires_translation: bool | UnsetType = UNSET
    events: list[GammaEvent] | UnsetType = UNSET


class GammaEvent(_Gamma):
    """A Gamma event (``/events``, ``/events/{id}``, public search): a group of markets."""

    id: str | UnsetType = UNSET
    ticker: str | UnsetType = UNSET
    slug: str | UnsetType = UNSET
    title: str | UnsetType = UNSET
    description: str | UnsetType = UNSET
    resolution_source: str | UnsetType = UNSET
    start_date: str | UnsetType = UNSET
    creation_date: str | UnsetType = UNSET
    end_date: str | UnsetType = UNSET
    image: str | UnsetType = UNSET
    icon: str | UnsetType = UNSET
    active: bool | UnsetType = UNSET
    closed: bool | UnsetType = UNSET
    archived: bool | UnsetType = UNSET
    new: bool | UnsetType = UNSET
    featured: bool | UnsetType = UNSET
    restricted: bool | UnsetType = UNSET
    liquidity: Decimal | UnsetType = UNSET
    volume: Decimal | UnsetType = UNSET
    open_interest: Decimal | UnsetType = UNSET
    sort_by: str | UnsetType = UNSET
    created_at: str | UnsetType = UNSET
    updated_at: str | UnsetType = UNSET
    competitive: Decimal | UnsetType = UNSET
    volume24hr: Decimal | UnsetType = UNSET
    volume1wk: Decimal | UnsetType = UNSET
    volume1mo: Decimal | UnsetType = UNSET
    volume1yr: Decimal | UnsetType = UNSET
    enable_order_book: bool | UnsetType = UNSET
    liquidity_clob: Decimal | UnsetType = UNSET
    neg_risk: bool | UnsetType = UNSET
    neg_risk_market_id: str | UnsetType = field(default=UNSET, name="negRiskMarketID")
    comment_count: int | UnsetType = UNSET
    # Absent with the undocumented include_markets=false (venue notes: Gamma API).
    markets: list[GammaMarket] | UnsetType = UNSET
    tags: list[GammaTag] | UnsetType = UNSET
    cyom: bool | UnsetType = UNSET
    show_all_outcomes: bool | UnsetType = UNSET
    show_market_images: bool | UnsetType = UNSET
    enable_neg_risk: bool | UnsetType = UNSET
    automatically_active: bool | UnsetType = UNSET
    start_time: str | UnsetType = UNSET
    gmp_chart_mode: str | UnsetType = UNSET
    neg_risk_augmented: bool | UnsetType = UNSET
    country_name: str | UnsetType = UNSET
    election_type: str | UnsetType = UNSET
    estimate_value: bool | UnsetType = UNSET
    cumulative_markets: bool | UnsetType = UNSET
    pending_deployment: bool | UnsetType = UNSET
    deploying: bool | UnsetType = UNSET
    deploying_timestamp: str | UnsetType = UNSET
    requires_translation: bool | UnsetType = UNSET
    automatically_resolved: bool | UnsetType = UNSET
    closed_time: str | UnsetType = UNSET
    ended: bool | UnsetType = UNSET
    event_date: str | UnsetType = UNSET
    event_metadata: GammaEventMetadata | UnsetType = UNSET
    event_week: int | UnsetType = UNSET
    game_id: int | UnsetType = UNSET
    live: bool | UnsetType = UNSET
    period: str | UnsetType = UNSET
    score: str | UnsetType = UNSET
    series_slug: str | UnsetType = UNSET
    series: list[GammaSeries] | UnsetType = UNSET


class GammaSearchPagination(_Gamma):
    """``pagination`` of ``/public-search``."""

    has_more: bool | UnsetType = UNSET
    total_results: int | UnsetType = UNSET


class GammaSearchResponse(_Gamma):
    """``GET /public-search?q=``: ``{events, tags, profiles, pagination}`` (venue notes: Gamma API)."""

    events: list[GammaEvent] | UnsetType = UNSET
    # No capture or venue doc shows the shape of search tags and profiles, so they stay untyped;
    # ``profiles`` can hold a JSON null element (venue notes: Gamma API).
    tags: list[dict[str, object]] | UnsetType = UNSET
    profiles: list[dict[str, object] | None] | UnsetType = UNSET
    pagination: GammaSearchPagination | UnsetType = UNSET


class GammaKeysetMarkets(_Gamma):
    """``GET /markets/keyset``: ``{markets, next_cursor}``; the last page has no ``next_cursor``."""

    markets: list[GammaMarket] = []
    next_cursor: str | None = field(default=None, name="next_cursor")
