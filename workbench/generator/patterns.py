"""Realistic log records: seeded sessions that log in, act, pay (or fail) and log out.

The level of each record is drawn first, from the configured mix (default 5% ERROR, 10% WARN,
70% INFO, 15% DEBUG), so the mix holds exactly in expectation whatever the flows do; then an
active session produces a record of that level from where it is in its flow:

* INFO advances the session: ``login`` (auth) -> a few ``act`` steps (api-gateway, search,
  inventory, orders) -> ``checkout`` (orders) -> ``pay`` (payment) -> ``logout`` (auth);
* DEBUG and WARN describe the session's current step (cache hits, slow calls, retries);
* ERROR fails the step: a session waiting to pay gets a declined payment and goes to logout,
  others get a timeout or a rejected token.

A session carries its ``user_id``, a session token in ``session_id``, and a ``trace_id`` per
request (checkout and payment share one); messages come from templates with variable parts.
Records are dicts (validated against the schema by the pool). ``ReplaySource`` turns the lines
of a real log file (syslog or any text) into records instead. Every random draw comes from one
``random.Random(seed)``.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench import model
from workbench.codecs import raw as raw_codec
from workbench.codecs import syslog as syslog_codec
from workbench.errors import ConfigError

DEFAULT_SERVICES: tuple[str, ...] = (
    "auth", "payment", "api-gateway", "inventory", "orders", "search", "notification", "shipping",
)  # fmt: skip
EPOCH_START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
_PATHS = ("/api/v1/products", "/api/v1/cart", "/api/v1/orders", "/api/v1/users/me", "/api/v1/search")
_METHODS = ("GET", "GET", "GET", "POST", "PUT", "DELETE")
_LOGIN_METHODS = ("password", "oauth-google", "oauth-github", "sso", "mfa-totp")
_DECLINES = (
    "card declined",
    "insufficient funds",
    "expired card",
    "fraud check failed",
    "issuer unavailable",
)
_WORDS = ("laptop", "usb cable", "coffee", "headphones", "desk lamp", "keyboard", "monitor", "backpack")
_CURRENCIES = ("EUR", "USD", "GBP")
_REGIONS = ("eu-west-1", "us-east-1", "ap-south-1")


@dataclass(slots=True)
class Session:
    user_id: str
    session_id: str
    ip: str
    region: str
    step: str = "login"  # login, act, checkout, pay, logout
    acts_left: int = 3
    trace_id: str = ""
    order_id: str = ""
    amount: str = ""
    currency: str = "EUR"
    started_us: int = 0
    cart: list[str] = field(default_factory=list)


class LogFactory:
    """An endless, reproducible stream of realistic record dicts."""

    def __init__(
        self,
        seed: int,
        level_mix: Mapping[str, float] | None = None,
        services: tuple[str, ...] = (),
        concurrent_sessions: int = 32,
        start: dt.datetime = EPOCH_START,
    ) -> None:
        mix = dict(level_mix or {"ERROR": 0.05, "WARN": 0.10, "INFO": 0.70, "DEBUG": 0.15})
        total = sum(mix.values())
        self.levels = [lvl for lvl, w in mix.items() if w > 0]
        self._cum = list(itertools.accumulate(mix[lvl] / total for lvl in self.levels))
        self.rng = random.Random(seed)
        self.services = services or DEFAULT_SERVICES
        self.hosts = {s: [f"{s}-{self.rng.getrandbits(20):05x}" for _ in range(3)] for s in self.services}
        self.sessions = [self._new_session(0) for _ in range(concurrent_sessions)]
        self.clock_us = model.micros_from_utc(start)
        self._user_counter = itertools.count(1)

    # --- helpers ---------------------------------------------------------------------------
    def _hex(self, bits: int) -> str:
        return f"{self.rng.getrandbits(bits):0{bits // 4}x}"

    def _new_session(self, now_us: int) -> Session:
        r = self.rng
        return Session(
            user_id=f"u-{r.randrange(1, 250_000):06d}",
            session_id=f"sess_{self._hex(96)}",
            ip=f"{r.choice((10, 172, 192))}.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(1, 255)}",
            region=r.choice(_REGIONS),
            acts_left=r.randrange(1, 6),
            trace_id=self._hex(128),
            started_us=now_us,
        )

    def _service(self, preferred: str) -> str:
        return preferred if preferred in self.hosts else self.rng.choice(self.services)

    def _record(
        self, level: str, service: str, message: str, s: Session | None, **attrs: str
    ) -> dict[str, Any]:
        service = self._service(service)
        rec: dict[str, Any] = {
            "timestamp": model.utc_from_micros(self.clock_us),
            "level": level,
            "service": service,
            "message": message,
            "host": self.rng.choice(self.hosts[service]),
            "attributes": attrs,
        }
        if s is not None:
            rec["user_id"] = s.user_id
            rec["session_id"] = s.session_id
            rec["trace_id"] = s.trace_id
            attrs.setdefault("region", s.region)
        return rec

    # --- the stream ------------------------------------------------------------------------
    def level(self) -> str:
        return self.levels[bisect.bisect_right(self._cum, self.rng.random() * self._cum[-1])]

    def next(self) -> dict[str, Any]:
        r = self.rng
        self.clock_us += int(r.expovariate(1 / 2000)) + 1  # ~2 ms between records
        level = self.level()
        idx = r.randrange(len(self.sessions))
        s = self.sessions[idx]
        if level == "INFO":
            return self._advance(idx, s)
        if level == "DEBUG":
            return self._debug(s)
        if level == "WARN":
            return self._warn(s)
        if level == "ERROR":
            return self._error(s)
        return self._record(level, r.choice(self.services), f"{level.lower()} event {self._hex(32)}", s)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while True:
            yield self.next()

    def _advance(self, idx: int, s: Session) -> dict[str, Any]:
        r = self.rng
        if s.step == "login":
            s.step = "act"
            method = r.choice(_LOGIN_METHODS)
            return self._record("INFO", "auth", f"user {s.user_id} logged in from {s.ip} via {method}", s,
                                **{"auth.method": method, "client.ip": s.ip})  # fmt: skip
        if s.step == "act":
            s.trace_id = self._hex(128)
            s.acts_left -= 1
            if s.acts_left <= 0:
                s.step = "checkout"
            kind = r.randrange(3)
            if kind == 0:
                item = r.choice(_WORDS)
                hits = r.randrange(0, 400)
                return self._record("INFO", "search", f"search '{item}' returned {hits} results in "
                                    f"{r.randrange(2, 90)}ms", s, **{"search.hits": str(hits)})  # fmt: skip
            if kind == 1:
                sku = f"SKU-{r.randrange(10_000, 99_999)}"
                s.cart.append(sku)
                qty = r.randrange(1, 4)
                return self._record("INFO", "inventory", f"reserved {qty} x {sku} for cart of {s.user_id}", s,
                                    sku=sku, quantity=str(qty))  # fmt: skip
            path, method = r.choice(_PATHS), r.choice(_METHODS)
            ms = r.randrange(3, 250)
            return self._record("INFO", "api-gateway", f"{method} {path} 200 {ms}ms", s,
                                **{"http.method": method, "http.path": path, "http.status": "200",
                                   "duration_ms": str(ms)})  # fmt: skip
        if s.step == "checkout":
            s.step = "pay"
            s.trace_id = self._hex(128)
            s.order_id = f"ord-{self._hex(40)}"
            s.amount = f"{r.randrange(100, 50_000) / 100:.2f}"
            s.currency = r.choice(_CURRENCIES)
            return self._record("INFO", "orders", f"order {s.order_id} created with {max(1, len(s.cart))} items "
                                f"total={s.amount} {s.currency}", s, order_id=s.order_id)  # fmt: skip
        if s.step == "pay":
            s.step = "logout"
            return self._record("INFO", "payment", f"payment for order {s.order_id} authorised: {s.amount} "
                                f"{s.currency}", s, order_id=s.order_id, amount=s.amount,
                                currency=s.currency)  # fmt: skip
        # logout: the session ends and a new one takes its slot
        secs = max(1, (self.clock_us - s.started_us) // 1_000_000)
        rec = self._record("INFO", "auth", f"user {s.user_id} logged out after {secs}s", s)
        self.sessions[idx] = self._new_session(self.clock_us)
        return rec

    def _debug(self, s: Session) -> dict[str, Any]:
        r = self.rng
        kind = r.randrange(3)
        if kind == 0:
            return self._record("DEBUG", "api-gateway", f"cache hit for key user:{s.user_id}:profile "
                                f"(age {r.randrange(1, 600)}s)", s)  # fmt: skip
        if kind == 1:
            svc = r.choice(("orders", "inventory", "payment"))
            return self._record("DEBUG", svc, f"db query took {r.randrange(1, 40)}ms rows={r.randrange(0, 200)}",
                                s, db="postgres")  # fmt: skip
        return self._record("DEBUG", "auth", f"token validated for session {s.session_id[:12]}... "
                            f"expires in {r.randrange(60, 3600)}s", s)  # fmt: skip

    def _warn(self, s: Session) -> dict[str, Any]:
        r = self.rng
        kind = r.randrange(4)
        if kind == 0:
            path = r.choice(_PATHS)
            ms = r.randrange(800, 5000)
            return self._record("WARN", "api-gateway", f"slow response on {path}: {ms}ms", s,
                                **{"http.path": path, "duration_ms": str(ms)})  # fmt: skip
        if kind == 1:
            svc = r.choice(("inventory", "payment", "shipping"))
            return self._record("WARN", "orders", f"retrying call to {svc} (attempt {r.randrange(2, 4)} of 3)", s,
                                upstream=svc)  # fmt: skip
        if kind == 2:
            sku = s.cart[-1] if s.cart else f"SKU-{r.randrange(10_000, 99_999)}"
            return self._record(
                "WARN", "inventory", f"stock low for {sku}: {r.randrange(0, 5)} left", s, sku=sku
            )
        return self._record(
            "WARN", "api-gateway", f"rate limit for {s.user_id} at {r.randrange(80, 100)}%", s
        )

    def _error(self, s: Session) -> dict[str, Any]:
        r = self.rng
        if s.step == "pay":
            s.step = "logout"
            reason = r.choice(_DECLINES)
            return self._record("ERROR", "payment", f"payment for order {s.order_id} failed: {reason} "
                                f"(code {r.randrange(1000, 9999)})", s, order_id=s.order_id, amount=s.amount,
                                currency=s.currency, reason=reason)  # fmt: skip
        if s.step == "login":
            return self._record("ERROR", "auth", f"login failed for {s.user_id} from {s.ip}: invalid credentials",
                                s, **{"client.ip": s.ip})  # fmt: skip
        svc = r.choice(("inventory", "search", "shipping", "notification"))
        ms = r.choice((1000, 2000, 5000, 30000))
        return self._record("ERROR", "api-gateway", f"upstream {svc} timed out after {ms}ms", s,
                            upstream=svc, **{"http.status": "504"})  # fmt: skip


class ReplaySource:
    """Records from the lines of a real log file, cycled: syslog lines keep their host, tag and
    priority; other lines are taken by the raw codec's rules (leading stamp, level word)."""

    def __init__(self, path: Path) -> None:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise ConfigError(f"cannot read the replay file {path}: {exc}") from exc
        now = model.now_utc()
        raw = raw_codec.RawCodec(default_service=path.stem or "replay")
        self.records: list[dict[str, Any]] = []
        for line in text.splitlines():
            if not line.strip():
                continue
            rec = syslog_codec.parse_line(line, now)
            if isinstance(rec, str) or not rec.get("service") or rec["service"] == "-":
                rec = raw.parse_line(line, now)
            elif not line.startswith("<"):  # no PRI: the level is the line's own word, if any
                word = raw_codec._LEVEL_WORD.search(line, 0, 200)
                if word:
                    rec["level"] = raw_codec.LEVEL_ALIASES[word.group(1).upper()]
            self.records.append(rec)
        if not self.records:
            raise ConfigError(f"the replay file {path} has no lines")
        self._i = 0

    def next(self) -> dict[str, Any]:
        rec = self.records[self._i % len(self.records)]
        self._i += 1
        return dict(rec, attributes=dict(rec.get("attributes", {})))
