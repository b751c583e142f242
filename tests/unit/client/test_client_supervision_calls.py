"""The permission and notification answers: paths, bodies, argument checks before sending."""

from __future__ import annotations

import pytest
from mix_fake import FakeMix, Runner, answer

from mix_provider.client import operations as ops
from mix_provider.errors import MixConfigError

PID = "5f0c1e2a-8d7b-4a43-9a1e-2b7c0d9e4f10"


@pytest.mark.parametrize("verb", ["grant", "deny"])
def test_permission_answers_post_no_body(fake: FakeMix, run: Runner, verb: str) -> None:
    path = f"/api/permissions/{PID}/{verb}"
    status = "granted" if verb == "grant" else "denied"
    fake.on("POST", path, answer(200, {"id": PID, "message": "ok", "status": status}))
    call = ops.grant_permission(PID) if verb == "grant" else ops.deny_permission(PID)
    assert run(call).status == status
    assert all(not r.content for r in fake.sent("POST", path))


def test_notification_response_body(fake: FakeMix, run: Runner) -> None:
    path = f"/api/notifications/{PID}/respond"
    fake.on("POST", path, answer(204))
    assert run(ops.respond_to_notification(PID, "choice", "no")) is None
    assert fake.bodies("POST", path) == [{"type": "choice", "value": "no"}]


def test_bad_answers_fail_before_sending() -> None:
    with pytest.raises(MixConfigError, match="response_type: 'yes' is not one of: acknowledge, choice, text"):
        ops.respond_to_notification(PID, "yes")
    with pytest.raises(MixConfigError, match="permission_id"):
        ops.grant_permission("")
