"""What a run's LLM calls cost in dollars: one price per role's model, the cost of usage so far.

A price comes from ``--price-in``/``--price-out`` (USD per million tokens, every role), else from
genai-prices, Pydantic's maintained price table shipped inside its wheel (read locally, never
downloaded at run time), for a hosted endpoint it knows, matched by base URL and model name. A
model served anywhere else (vLLM, Ollama, a proxy, a test double) has no price: its cost is
unknown, never guessed. The embedded model runs in-process and bills nothing.

Cost is derived from the token counts in the run state, so it is the whole run's, resumes
included. Answers from the answer cache carry no tokens (``Usage.cached``): they cost $0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from agents.errors import UserError
from agents.models import ROLES, Role, model_name_for
from graph.context import RunConfig

TOKENS_PER_PRICE_UNIT = 1_000_000
# Tokens of the probe usage a table price is read from: small, so that a model whose price rises
# above a prompt length (long-context tiers) is priced at the rate this tool's calls pay.
PROBE_TOKENS = 1_000
# Usage keys that are not roles, and the role whose model they call.
USAGE_ROLE: dict[str, Role] = {"contrast": "responder"}
UNKNOWN_HINT = "cost: unknown (give --price-in/--price-out)"
USD_DIGITS = 6


@dataclass(frozen=True)
class Price:
    """USD per million input and output tokens of one model, and where that price came from."""

    model: str
    input_per_million: float
    output_per_million: float
    source: str

    def of(self, input_tokens: float, output_tokens: float) -> float:
        """Dollars for these tokens."""
        return (
            input_tokens * self.input_per_million + output_tokens * self.output_per_million
        ) / TOKENS_PER_PRICE_UNIT


@dataclass(frozen=True)
class Cost:
    """Dollars spent by usage key (``None``: tokens spent on a model without a price)."""

    by_role: dict[str, float | None]

    @property
    def total(self) -> float | None:
        """Dollars in all, or ``None`` when any role's part is unknown."""
        parts = list(self.by_role.values())
        return None if any(p is None for p in parts) else sum(p for p in parts if p is not None)


@dataclass(frozen=True)
class RunPrices:
    """The price of each role's model for one run."""

    by_role: dict[Role, Price | None]

    @property
    def unknown_roles(self) -> list[Role]:
        """Roles whose model has no price."""
        return [role for role, price in self.by_role.items() if price is None]

    def price_of(self, usage_key: str) -> Price | None:
        """The price that a usage key's calls pay (``contrast`` calls the responder's model)."""
        return self.by_role.get(cast(Role, USAGE_ROLE.get(usage_key, usage_key)))

    def cost(self, usage: dict[str, dict[str, float]] | None) -> Cost:
        """Dollars spent by the usage counters of a run state (``LoopState.usage``)."""
        by_role: dict[str, float | None] = {}
        for key, counts in (usage or {}).items():
            tokens_in = counts.get("input_tokens", 0)
            tokens_out = counts.get("output_tokens", 0)
            price = self.price_of(key)
            if price is not None:
                by_role[key] = price.of(tokens_in, tokens_out)
            else:
                by_role[key] = 0.0 if not (tokens_in or tokens_out) else None
        return Cost(by_role)

    def describe(self) -> str:
        """One line for the start of a run: the prices in use, or that cost is unknown."""
        known = {
            f"{p.model} ${p.input_per_million:g}/${p.output_per_million:g} ({p.source})"
            for p in self.by_role.values()
            if p is not None
        }
        if not known:
            return UNKNOWN_HINT
        text = "prices per million tokens in/out: " + "; ".join(sorted(known))
        if unknown := self.unknown_roles:
            text += f"; no price for the {', '.join(unknown)} model(s): their cost is unknown"
        return text


def table_price(model: str, base_url: str | None) -> Price | None:
    """The genai-prices price of ``model`` at the hosted endpoint ``base_url``, or ``None``."""
    if not base_url:
        return None
    from genai_prices import Usage, calc_price
    from genai_prices import __version__ as table_version

    try:
        found = calc_price(
            Usage(input_tokens=PROBE_TOKENS, output_tokens=PROBE_TOKENS),
            model,
            provider_api_url=base_url,
        )
    except LookupError:  # an endpoint or model the table does not know
        return None
    scale = TOKENS_PER_PRICE_UNIT / PROBE_TOKENS
    return Price(
        model=model,
        input_per_million=round(float(found.input_price) * scale, USD_DIGITS),
        output_per_million=round(float(found.output_price) * scale, USD_DIGITS),
        source=f"genai-prices {table_version}: {found.provider.id} {found.model.id}",
    )


def price_for(role: Role, config: RunConfig) -> Price | None:
    """The price a role's model pays: the flags, the embedded model's $0, or the price table."""
    model = model_name_for(role, config)
    if config.price_in is not None and config.price_out is not None:
        return Price(model, config.price_in, config.price_out, "--price-in/--price-out")
    if config.provider == "embedded":
        return Price(model, 0.0, 0.0, "embedded model, runs in-process")
    return table_price(model, config.base_url)


def run_prices(config: RunConfig) -> RunPrices:
    """The price of every role's model for a run (one table look-up per distinct model)."""
    found: dict[str, Price | None] = {}
    by_role: dict[Role, Price | None] = {}
    for role in ROLES:
        model = model_name_for(role, config)
        if model not in found:
            found[model] = price_for(role, config)
        by_role[role] = found[model]
    return RunPrices(by_role)


def check_budget_priced(config: RunConfig, prices: RunPrices | None = None) -> None:
    """A ``--max-cost`` needs a price for every role's model: else one ``UserError`` line."""
    if config.max_cost is None:
        return
    prices = prices or run_prices(config)
    if unknown := prices.unknown_roles:
        model = model_name_for(unknown[0], config)
        roles = f" ({', '.join(unknown)})" if len(unknown) < len(ROLES) else ""
        raise UserError(
            f"--max-cost needs a price for every model; none is known for {model!r}{roles} "
            f"at {config.base_url}: give --price-in and --price-out (USD per million tokens)"
        )


def spent(state: dict[str, Any], prices: RunPrices | None) -> float | None:
    """Dollars a run state's calls have cost so far, or ``None`` when unknown."""
    return None if prices is None else prices.cost(state.get("usage")).total


def cost_stop(state: dict[str, Any], config: RunConfig, prices: RunPrices | None) -> str | None:
    """The stop reason once the run has spent its ``--max-cost``, or ``None``."""
    if config.max_cost is None or (dollars := spent(state, prices)) is None:
        return None
    if dollars < config.max_cost:
        return None
    return f"cost budget reached ({format_usd(dollars)} of {format_usd(config.max_cost)})"


def format_usd(dollars: float | None) -> str:
    """Dollars for people: cents above a dollar, four decimals below (a round costs cents)."""
    if dollars is None:
        return "unknown"
    return f"${dollars:,.2f}" if dollars >= 1 else f"${dollars:.4f}"


def cost_stats(
    state: dict[str, Any], prices: RunPrices | None, max_cost: float | None
) -> dict[str, Any]:
    """The ``cost`` section of ``stats.json``: dollars in all, by role, per round and per item."""
    if prices is None:
        return {"total_usd": None, "note": UNKNOWN_HINT}
    cost = prices.cost(state.get("usage"))
    total = cost.total
    accepted, rounds = int(state.get("accepted", 0)), int(state.get("round", 0))

    def per(count: int) -> float | None:
        return round(total / count, USD_DIGITS) if total is not None and count else None

    return {
        "total_usd": None if total is None else round(total, USD_DIGITS),
        "by_role_usd": {
            key: None if value is None else round(value, USD_DIGITS)
            for key, value in cost.by_role.items()
        },
        "per_round_usd": per(rounds),
        "per_accepted_item_usd": per(accepted),
        "max_cost_usd": max_cost,
        "prices": {
            role: None
            if price is None
            else {
                "model": price.model,
                "input_per_million_usd": price.input_per_million,
                "output_per_million_usd": price.output_per_million,
                "source": price.source,
            }
            for role, price in prices.by_role.items()
        },
        "note": UNKNOWN_HINT if total is None else None,
    }
