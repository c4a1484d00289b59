"""Tests against a deliberately hostile Smartpay: every answer scripted, however wrong.

``server.py`` holds the server; ``conftest.py`` the ``hostile`` fixture. Example::

    async def test_a_refund_for_another_amount_is_not_believed(hostile: HostileServer) -> None:
        hostile.answer("POST /refunds", {**refund_json(), "amount": 1})
        async with client_for(hostile) as client:
            with pytest.raises(errors.AnswerMismatch):
                await client.create_refund(BODY, idempotency_key="k")

Outside this package, ``run_hostile()`` (an async context manager) starts one the same way.
"""
