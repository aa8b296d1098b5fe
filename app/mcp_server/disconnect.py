"""Stop serving a request whose client has gone: the ASGI app run under a watch on `http.disconnect`.

The SDK's stateless JSON transport reads the body, then waits for the tool's answer without ever
listening to the connection again, so a client that gives up (a timeout, a closed laptop) left its
tool running to the end: SQL until the statement timeout, an HTTP function until its deadline.
Here, once the body has been read, this module is the only reader of the connection; when it
reports a disconnect before the response is complete, the app's task is cancelled, which cancels
the tool call (FluxbaseMCP.call_tool turns that into its CancelToken, which stops the SQL).
"""
from __future__ import annotations

import anyio

__all__ = ["run_until_disconnect"]


async def run_until_disconnect(app, scope, receive, send) -> None:
    body_read = anyio.Event()
    gone = anyio.Event()
    response_done = False

    async def app_receive():
        if body_read.is_set():  # the body is the app's; what follows is the watcher's to read
            await gone.wait()
            return {"type": "http.disconnect"}
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            body_read.set()
        return message

    async def app_send(message):
        nonlocal response_done
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            response_done = True
        await send(message)

    async with anyio.create_task_group() as group:
        async def watch() -> None:
            await body_read.wait()
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    gone.set()
                    if not response_done:
                        group.cancel_scope.cancel()
                    return

        group.start_soon(watch)
        await app(scope, app_receive, app_send)
        group.cancel_scope.cancel()
