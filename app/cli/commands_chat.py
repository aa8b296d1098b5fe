"""`fluxbase chat CHATBOT [--user ID] [--namespace N]`: a terminal chat with a running server, through
the Python SDK (sdk/python), so it sees what any client sees.

Answers stream as they come, progress is a spinner, query results are tables under their SQL. Ctrl-C
cancels the answer being written (a second Ctrl-C quits); at the prompt it quits. `/new` starts a new
conversation, `/history` shows this one's messages, `/quit` (or Ctrl-D) leaves.
A tool call the chatbot sets to `ask` shows its preview and asks "Run it? [y/N]" (docs/approval.md).

Who it signs in as: `--token` or FLUXBASE_TOKEN (a real JWT); otherwise, in development only, a
token minted with the server's JWT secret for `--user` (default: the demo user alice).
"""
from __future__ import annotations

import uuid

from fluxbase_sdk import (
    ApprovalRequired,
    AuthError,
    ConnectionError,
    FluxbaseError,
    NotFoundError,
    create_client,
)
from rich.markup import escape

from app.auth.tokens import mint
from app.chatbots.spec import is_valid_name
from app.cli.chat_render import TurnView
from app.cli.console import make_console
from app.demo.loader import ALICE, BOB
from config import Settings, environment

out = make_console()
DEMO_USERS = {"alice": ALICE, "bob": BOB}
TOKEN_TTL_SECONDS = 12 * 3600
HELP = "/new starts a new conversation, /history shows this one, /quit leaves; Ctrl-C cancels an answer"


class ChatCliError(Exception):
    """A mistake the user can fix; main prints it as one line and exits 1."""


def add_parsers(sub) -> None:
    p = sub.add_parser("chat", help="chat with a chatbot in the terminal (a running server: make run)")
    p.add_argument("chatbot", metavar="CHATBOT", help="the chatbot's name, e.g. sql-assistant")
    p.add_argument("--namespace", default=None, metavar="N", help="its namespace (default: found by name)")
    p.add_argument("--user", default=None, metavar="ID",
                   help="development: sign in as this user (a UUID, or alice / bob of the demo; default alice)")
    p.add_argument("--token", default=None, metavar="JWT", help="sign in with this JWT (or set FLUXBASE_TOKEN)")
    p.add_argument("--url", default=None, metavar="URL",
                   help="the server (default FLUXBASE_URL, else http://HOST:PORT from the settings)")
    p.add_argument("--conversation", default=None, metavar="ID", help="resume this conversation")
    p.set_defaults(handler=cmd_chat)


def server_url(settings: Settings, given: str | None) -> str:
    given = given or environment.client_url()
    if given:
        return given.rstrip("/")
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return f"http://{host}:{settings.port}"


def user_token(settings: Settings, args) -> str:
    token = args.token or environment.client_token()
    if token:
        if args.user:
            raise ChatCliError("--user picks a demo user to mint a token for; it cannot be combined with a token")
        return token
    if settings.production:
        raise ChatCliError("sign in with --token JWT or FLUXBASE_TOKEN (tokens are minted here only in development)")
    user = DEMO_USERS.get((args.user or "alice").lower(), args.user)
    try:
        user = str(uuid.UUID(user))
    except ValueError:
        raise ChatCliError(f"--user must be a user id (UUID) or one of {', '.join(DEMO_USERS)}, "
                           f"not {args.user!r}") from None
    return mint(settings.jwt_secret, role="authenticated", user_id=user, ttl_seconds=TOKEN_TTL_SECONDS)


def cmd_chat(settings: Settings, args) -> int:
    if not is_valid_name(args.chatbot) or (args.namespace is not None and not is_valid_name(args.namespace)):
        raise ChatCliError(f"not a chatbot name: {args.chatbot!r} (lower-case letters, digits, '-' and '_')")
    url = server_url(settings, args.url)
    token = user_token(settings, args)
    client = create_client(url, token)
    chat = client.ai.create_chat(token=token, on_connection=_connection_notice)
    try:
        chat.connect()
    except AuthError as exc:
        raise ChatCliError(f"the server refused the sign-in: {exc.message}") from None
    except ConnectionError:
        raise ChatCliError(f"cannot reach the server at {url}: is it running (make run)? "
                           "Use --url or FLUXBASE_URL for another address") from None
    try:
        session = _Session(client, chat, args)
        session.open(args.conversation)
        return session.loop()
    finally:
        chat.disconnect()


def _connection_notice(state: str, info: dict) -> None:
    if state == "reconnecting" and info.get("attempt") == 1:
        out.print("[yellow]connection lost, reconnecting...[/]")
    elif state == "reconnected":
        out.print("[green]reconnected[/]")
    elif state == "failed":
        out.print("[red]the connection is lost for good[/]")


class _Session:
    def __init__(self, client, chat, args):
        self.client, self.chat = client, chat
        self.chatbot, self.namespace = args.chatbot, args.namespace
        self.conversation_id: str | None = None

    def open(self, conversation_id: str | None = None) -> None:
        try:
            self.conversation_id = self.chat.start_chat(self.chatbot, self.namespace, conversation_id)
        except NotFoundError as exc:
            if exc.code == "CONVERSATION_NOT_FOUND":
                raise ChatCliError(f"no conversation {conversation_id} of yours with {self.chatbot}") from None
            where = f" in namespace {self.namespace}" if self.namespace else ""
            raise ChatCliError(f"chatbot {self.chatbot!r}{where} not found or disabled "
                               "(`fluxbase chatbots list` shows them)") from None
        except FluxbaseError as exc:
            raise ChatCliError(f"cannot start a chat with {self.chatbot}: {exc}") from None
        verb = "resumed" if conversation_id else "chatting with"
        out.print(f"[bold]{verb} {escape(self.chatbot)}[/] [dim](conversation {self.conversation_id})[/]")
        out.print(f"[dim]{HELP}[/]")

    def loop(self) -> int:
        while True:
            try:
                line = input("you> ")
            except (EOFError, KeyboardInterrupt):
                out.print()
                return 0
            text = line.strip()
            if not text:
                continue
            if text.startswith("/"):
                command = text.split()[0].lower()
                if command in ("/quit", "/exit"):
                    return 0
                if command == "/new":
                    self.open()
                elif command == "/history":
                    self.history()
                else:
                    out.print(f"[yellow]unknown command {escape(command)}[/]: {HELP}")
                continue
            if not self.turn(text):
                return 130

    def turn(self, text: str) -> bool:
        """One question and its answer; False when the user pressed Ctrl-C twice (quit)."""
        view = TurnView(out)
        try:
            turn = self.chat.ask(self.conversation_id, text)
        except FluxbaseError as exc:
            out.print(f"[red]error:[/] {escape(str(exc))}")
            return True
        interrupted = False
        try:
            while True:
                try:
                    event = next(turn)
                    view.show(event)
                    if isinstance(event, ApprovalRequired):
                        self.answer(event)
                except StopIteration:
                    return True
                except KeyboardInterrupt:
                    if interrupted:
                        return False
                    interrupted = True
                    view.interrupted()
                    try:
                        turn.cancel()
                    except FluxbaseError as exc:
                        out.print(f"[red]could not cancel:[/] {escape(str(exc))}")
                    continue
                except FluxbaseError as exc:
                    view.close()
                    out.print(f"[red]error:[/] {escape(str(exc))}")
                    return True
        finally:
            view.close()
            turn.close()

    def answer(self, event: ApprovalRequired) -> None:
        """Ask the user whether to run what the preview shows (docs/approval.md); anything but yes is no."""
        try:
            reply = input("Run it? [y/N] ").strip().lower()
        except EOFError:
            reply = ""
        try:
            if reply in ("y", "yes"):
                self.chat.approve(self.conversation_id, event.approval_id)
            else:
                self.chat.deny(self.conversation_id, event.approval_id, "declined in fluxbase chat")
        except FluxbaseError as exc:
            out.print(f"[red]could not answer:[/] {escape(str(exc))}")

    def history(self) -> None:
        try:
            detail = self.client.ai.get_conversation(self.conversation_id)
        except FluxbaseError as exc:
            out.print(f"[red]cannot read the history:[/] {escape(str(exc))}")
            return
        messages = [m for m in detail.get("messages", []) if m.get("role") in ("user", "assistant")
                    and (m.get("content") or "").strip()]
        if not messages:
            out.print("[dim](no messages yet)[/]")
            return
        for message in messages:
            who = "[bold]you[/]" if message["role"] == "user" else f"[bold]{escape(self.chatbot)}[/]"
            out.print(f"{who}: {escape(message['content'])}")
