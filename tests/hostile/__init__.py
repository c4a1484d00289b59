"""Tests against a deliberately hostile Smartpay: every answer scripted, however wrong.

``server.py`` is the server (routes, ``Reply``, ``Received``, ``run_hostile``); ``conftest.py``
gives the ``hostile`` fixture; ``shapes.py`` well-formed objects to bend; ``clients.py`` the
real client pointed at it on a fake clock. A scenario::

    async def test_a_refund_for_another_amount_is_not_believed(hostile: HostileServer) -> None:
        hostile.answer("POST /refunds", refund_json(amount=1))  # then the same for ever
        async with client_for(hostile) as client:
            with pytest.raises(errors.AnswerMismatch):
                await client.create_refund(BODY, idempotency_key="k")

Whole runs work the same way: point a run's API prefix at ``hostile.base_url`` (see
``test_engine_lookup.py``). Outside this package, ``run_hostile()`` (an async context
manager) starts a server the same way.
"""
