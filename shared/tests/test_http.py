"""The one retry policy and the typed error tree of every client (respx mocks the upstream)."""

from __future__ import annotations

import random

import httpx
import pytest
import respx
from pydantic import BaseModel

from shared.http import BaseClient, ContractError, Rejected, RetryPolicy, Unavailable

BASE = "http://upstream.test"


class Answer(BaseModel):
    ok: bool


def client(attempts: int = 4) -> BaseClient:
    # no real sleeping: base delay 0 keeps jittered waits at 0 s; Retry-After is capped at 0.01 s
    return BaseClient(BASE, "t" * 20, retry=RetryPolicy(attempts=attempts, base=0.0, cap=0.01,
                                                        rng=random.Random(1)))


@respx.mock
def test_idempotent_call_is_retried_on_5xx_429_and_network_errors_then_succeeds() -> None:
    route = respx.get(f"{BASE}/x").mock(side_effect=[
        httpx.Response(503), httpx.Response(429, headers={"Retry-After": "7"}), httpx.ConnectError("down"),
        httpx.Response(200, json={"ok": True}),
    ])
    assert client().request("GET", "/x", Answer, idempotent=True) == Answer(ok=True)
    assert route.call_count == 4
    assert route.calls[0].request.headers["authorization"] == "Bearer " + "t" * 20


@respx.mock
def test_retries_are_bounded() -> None:
    route = respx.get(f"{BASE}/x").mock(return_value=httpx.Response(502))
    with pytest.raises(Unavailable) as exc:
        client(attempts=3).request("GET", "/x", Answer, idempotent=True)
    assert exc.value.status == 502 and route.call_count == 3


@respx.mock
def test_non_idempotent_call_is_never_retried() -> None:
    route = respx.post(f"{BASE}/x").mock(return_value=httpx.Response(503))
    with pytest.raises(Unavailable):
        client().request("POST", "/x", Answer, idempotent=False, json={})
    assert route.call_count == 1


@respx.mock
def test_4xx_is_rejected_at_once_with_the_parsed_envelope() -> None:
    body = {"error": "InvalidInput", "detail": "niks: too long",
            "errors": [{"field": "niks", "rule": "too_long", "message": "at most 1000"}]}
    route = respx.post(f"{BASE}/x").mock(return_value=httpx.Response(422, json=body))
    with pytest.raises(Rejected) as exc:
        client().request("POST", "/x", Answer, idempotent=True, json={})
    assert route.call_count == 1
    assert exc.value.status == 422 and exc.value.errors[0].field == "niks" and exc.value.errors[0].rule == "too_long"


@respx.mock
def test_a_4xx_without_an_envelope_still_becomes_rejected() -> None:
    respx.get(f"{BASE}/x").mock(return_value=httpx.Response(404, text="<html>not found</html>"))
    with pytest.raises(Rejected) as exc:
        client().request("GET", "/x", Answer, idempotent=True)
    assert exc.value.body.error == "HTTP404"


@respx.mock
def test_an_answer_off_contract_is_a_contract_error() -> None:
    respx.get(f"{BASE}/x").mock(return_value=httpx.Response(200, json={"ok": "perhaps"}))
    with pytest.raises(ContractError):
        client().request("GET", "/x", Answer, idempotent=True)


def test_retry_after_is_honoured_but_capped() -> None:
    policy = RetryPolicy(attempts=3, base=1.0, cap=2.0, rng=random.Random(3))

    class State:
        attempt_number = 1

        class outcome:
            @staticmethod
            def exception() -> Exception:
                return Unavailable("x", 429, retry_after=30)

    assert policy.wait(State()) == 2.0  # type: ignore[arg-type]
    State.outcome.exception = staticmethod(lambda: Unavailable("x", 503))  # type: ignore[method-assign]
    waits = [policy.wait(State()) for _ in range(50)]  # type: ignore[arg-type]
    assert all(0 <= w <= 1.0 for w in waits) and len(set(waits)) > 1  # full jitter up to base * 2^0


NIK = "3172065511870016"


@respx.mock
def test_no_client_error_holds_a_nik_in_full() -> None:
    """A client error's text ends up in a sync run's errors and in logs: a NIK in the upstream's error body, or
    in an answer that breaks the contract, is masked there (and pydantic's input value is not repeated)."""
    respx.post(f"{BASE}/refused").mock(return_value=httpx.Response(
        404, json={"error": "NotFound", "detail": f"no member {NIK}", "errors": []}))
    respx.get(f"{BASE}/odd").mock(return_value=httpx.Response(200, json={"ok": NIK}))
    with pytest.raises(Rejected) as refused:
        client().request("POST", "/refused", Answer, idempotent=False)
    with pytest.raises(ContractError) as odd:
        client().request("GET", "/odd", Answer, idempotent=True)
    assert "no member 317206******0016" in str(refused.value)
    assert "ok: Input should be a valid boolean" in str(odd.value)
    assert NIK not in str(refused.value) + str(odd.value)
