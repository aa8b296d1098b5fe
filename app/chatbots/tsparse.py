"""Read a chatbot definition file's syntax tree; the file is never executed.

A definition file is TypeScript, but we only accept the few shapes whose value can be
known without running code: a `/** ... */` doc comment with `@fluxbase:` annotation
lines, `export default` of a string literal (the system prompt), and optionally
`export const tools = [...]` holding a JSON-like literal. Everything else that would
need evaluation (substitutions, identifiers, calls, spreads) is refused with the line.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "AnnotationLine",
    "ChatbotDefinitionError",
    "DocComment",
    "ParsedSource",
    "ToolEntry",
    "parse_source",
]


class ChatbotDefinitionError(Exception):
    """A chatbot definition that cannot be accepted, with where and why."""

    def __init__(self, path_or_name: str, line: int | None, message: str, annotation: str | None = None):
        self.path_or_name = path_or_name
        self.line = line
        self.message = message
        self.annotation = annotation
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.path_or_name if self.line is None else f"{self.path_or_name}:{self.line}"
        what = f"@fluxbase:{self.annotation}: {self.message}" if self.annotation else self.message
        return f"{where}: {what}"

    def __reduce__(self):  # keep the error picklable (Celery ships exceptions between processes)
        return (type(self), (self.path_or_name, self.line, self.message, self.annotation))


@dataclass(frozen=True)
class AnnotationLine:
    name: str
    value: str  # raw text after the name, stripped; comments are the annotation layer's business
    line: int


@dataclass(frozen=True)
class DocComment:
    title: str | None
    annotations: tuple[AnnotationLine, ...]
    line: int


@dataclass(frozen=True)
class ToolEntry:
    value: Any  # converted literal; shape is checked by the spec layer
    line: int


@dataclass(frozen=True)
class ParsedSource:
    doc: DocComment | None
    system_prompt: str
    prompt_line: int
    tools: tuple[ToolEntry, ...] | None  # None when the file has no `export const tools`


_ANNOTATION_RE = re.compile(r"@fluxbase:([A-Za-z0-9_-]*)(.*)$")
_STRAY_ANNOTATION_RE = re.compile(r"^\s*(?://+|/\*+|\*+)?\s*@fluxbase:", re.MULTILINE)
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v"}
_LINE_TERMINATORS = "\n\u2028\u2029"
_HEX = frozenset("0123456789abcdefABCDEF")


@functools.cache
def _parser():
    # Built on first use so importing this module stays free of native work.
    import tree_sitter_typescript
    from tree_sitter import Language, Parser

    return Parser(Language(tree_sitter_typescript.language_typescript()))


def parse_source(code: bytes, where: str) -> ParsedSource:
    """Parse a definition file. `where` (a path or a name) is used in error messages."""
    text = _decode(code, where)
    root = _parser().parse(text.encode("utf-8")).root_node
    try:
        if root.has_error:
            _raise_syntax_error(root, where)
        return _Walker(where).walk(root)
    except RecursionError:
        # The walk follows the syntax tree; no real definition nests thousands of levels deep.
        raise ChatbotDefinitionError(where, None, "the file is nested too deeply to read") from None


def _decode(code: bytes, where: str) -> str:
    try:
        text = code.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = code[: exc.start].count(b"\n") + 1
        raise ChatbotDefinitionError(where, line, f"file is not valid UTF-8 (byte 0x{code[exc.start]:02x} at offset {exc.start})") from None
    # A BOM is invisible in editors; tree-sitter would see it as a stray character.
    return text[1:] if text.startswith("\ufeff") else text


def _line(node) -> int:
    return node.start_point.row + 1


def _text(node) -> str:
    return node.text.decode("utf-8")


def _raise_syntax_error(root, where: str):
    bad = _first_broken(root)
    if bad.is_missing:
        raise ChatbotDefinitionError(where, _line(bad), f"syntax error: missing {bad.type!r}")
    first = bad.children[0] if bad.children else bad
    opener = _text(first)[:1]
    if opener == "`" or bad.type == "template_string":
        message = "unterminated template literal (no closing backtick)"
    elif opener in ("'", '"'):
        message = "unterminated string literal"
    else:
        snippet = _text(bad).split("\n", 1)[0][:40]
        kind = "invalid escape sequence" if snippet.startswith("\\") else "syntax error"
        message = f"{kind} near {snippet!r}"
    raise ChatbotDefinitionError(where, _line(bad), message)


def _first_broken(node):
    # Depth-first, so the reported node is the earliest in the file.
    for child in node.children:
        if child.is_error or child.is_missing:
            return child
        if child.has_error:
            return _first_broken(child)
    return node


class _Walker:
    def __init__(self, where: str):
        self.where = where

    def fail(self, node_or_line, message: str):
        line = node_or_line if isinstance(node_or_line, int) or node_or_line is None else _line(node_or_line)
        raise ChatbotDefinitionError(self.where, line, message)

    def walk(self, root) -> ParsedSource:
        default_stmt = None
        tools_node = None
        for stmt in root.named_children:
            if stmt.type != "export_statement":
                continue
            if stmt.child_by_field_name("value") is not None or any(c.type == "default" for c in stmt.children):
                if default_stmt is not None:
                    self.fail(stmt, "more than one `export default`")
                default_stmt = stmt
            for found in self._tools_declarators(stmt):
                if tools_node is not None:
                    self.fail(found, "`tools` is exported more than once")
                tools_node = found
        if default_stmt is None:
            self.fail(None, "missing `export default` with the system prompt")
        value = default_stmt.child_by_field_name("value")
        if value is None:
            self.fail(default_stmt, "`export default` must be the system prompt as a string or template literal")
        prompt = self.prompt(value)
        doc = self.doc_comment(root, default_stmt)
        self._refuse_stray_annotations(root, doc)
        tools = None if tools_node is None else self.tools(tools_node)
        return ParsedSource(doc, prompt, _line(value), tools)

    def _tools_declarators(self, stmt):
        decl = stmt.child_by_field_name("declaration")
        if decl is not None and decl.type in ("lexical_declaration", "variable_declaration"):
            for declarator in decl.named_children:
                name = declarator.child_by_field_name("name")
                if declarator.type == "variable_declarator" and name is not None and _text(name) == "tools":
                    value = declarator.child_by_field_name("value")
                    if value is None:
                        self.fail(declarator, "`export const tools` needs an array literal value")
                    yield value
        for clause in stmt.named_children:
            if clause.type == "export_clause":
                for spec in clause.named_children:
                    alias = spec.child_by_field_name("alias") or spec.child_by_field_name("name")
                    if alias is not None and _text(alias) in ("tools", "default"):
                        self.fail(spec, f"export `{_text(alias)}` directly (`export const tools = [...]`, `export default `...``); a re-exported value cannot be read without running the file")

    # -- system prompt -------------------------------------------------------

    def prompt(self, node) -> str:
        while node.type == "parenthesized_expression" and node.named_child_count == 1:
            node = node.named_children[0]
        if node.type not in ("template_string", "string"):
            self.fail(node, f"`export default` must be the system prompt as a string or template literal, not {node.type.replace('_', ' ')}")
        return self.string(node)

    def string(self, node) -> str:
        for child in node.named_children:
            if child.type == "template_substitution":
                self.fail(child, "`${...}` substitutions cannot be evaluated without running the file; use {{...}} templates (e.g. {{user_id}}, {{system:key}}) instead")
        raw = _text(node)[1:-1]
        if node.type == "template_string":
            # JavaScript normalises raw line breaks in template literals to LF.
            raw = raw.replace("\r\n", "\n").replace("\r", "\n")
        return self.cook(raw, _line(node))

    def cook(self, raw: str, first_line: int) -> str:
        out: list[str] = []
        i, n = 0, len(raw)
        while i < n:
            j = raw.find("\\", i)
            if j < 0:
                out.append(raw[i:])
                break
            out.append(raw[i:j])
            c = raw[j + 1] if j + 1 < n else ""
            i = j + 2
            if c in _SIMPLE_ESCAPES:
                out.append(_SIMPLE_ESCAPES[c])
            elif c == "\r":
                i += raw[i : i + 1] == "\n"
            elif c and c in _LINE_TERMINATORS:
                pass  # line continuation: backslash + newline vanish
            elif c == "0" and not raw[i : i + 1].isdigit():
                out.append("\0")
            elif c.isdigit():
                self._bad_escape(raw, j, first_line, "octal escapes are not allowed in modules; use \\x.. or \\u....")
            elif c == "x":
                digits = raw[i : i + 2]
                if len(digits) != 2 or not set(digits) <= _HEX:
                    self._bad_escape(raw, j, first_line, "\\x needs exactly two hex digits")
                out.append(chr(int(digits, 16)))
                i += 2
            elif c == "u":
                code, i = self._unicode_escape(raw, i, j, first_line)
                out.append(chr(code))
            else:
                out.append(c)
        cooked = "".join(out)
        if any("\ud800" <= ch <= "\udfff" for ch in cooked):
            try:  # \uD83D\uDE00 style pairs become one code point, as in JavaScript
                cooked = cooked.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
            except UnicodeDecodeError:
                self.fail(first_line, "lone UTF-16 surrogate in a \\u escape")
        return cooked

    def _unicode_escape(self, raw: str, i: int, j: int, first_line: int) -> tuple[int, int]:
        if raw[i : i + 1] == "{":
            end = raw.find("}", i)
            digits = raw[i + 1 : end] if end > 0 else ""
            if not digits or not set(digits) <= _HEX or int(digits, 16) > 0x10FFFF:
                self._bad_escape(raw, j, first_line, "\\u{...} needs 1-6 hex digits up to 10FFFF")
            return int(digits, 16), end + 1
        digits = raw[i : i + 4]
        if len(digits) != 4 or not set(digits) <= _HEX:
            self._bad_escape(raw, j, first_line, "\\u needs exactly four hex digits or {...}")
        return int(digits, 16), i + 4

    def _bad_escape(self, raw: str, pos: int, first_line: int, message: str):
        self.fail(first_line + raw.count("\n", 0, pos), f"invalid escape sequence: {message}")

    # -- doc comment ---------------------------------------------------------

    def doc_comment(self, root, default_stmt) -> DocComment | None:
        candidates = []
        for child in root.children:
            if child.type != "comment":
                break
            if _is_doc(child):
                candidates.append(child)
        before = default_stmt.prev_sibling
        if before is not None and before.type == "comment" and _is_doc(before) and before not in candidates:
            candidates.append(before)
        if not candidates:
            return None
        parsed = [self._read_doc(c) for c in candidates]
        # A license header may come first; prefer the block that actually configures the bot.
        return next((d for d in parsed if d.annotations), parsed[0])

    def _read_doc(self, node) -> DocComment:
        body = _text(node)[3:-2]
        first = _line(node)
        title = None
        annotations = []
        for offset, raw_line in enumerate(body.split("\n")):
            line = raw_line.strip().lstrip("*").strip()
            match = _ANNOTATION_RE.match(line)
            if match:
                name = match.group(1)
                rest = match.group(2)
                if not name or (rest and not rest[0].isspace()):
                    self.fail(first + offset, f"malformed annotation {line.split()[0]!r}")
                annotations.append(AnnotationLine(name, rest.strip(), first + offset))
            elif line and title is None:
                title = line
        return DocComment(title, tuple(annotations), first)

    def _refuse_stray_annotations(self, root, doc: DocComment | None):
        # An annotation outside the doc comment would silently do nothing; say so instead.
        stack = [root]
        while stack:
            node = stack.pop()
            if node.type == "comment":
                if doc is not None and _line(node) == doc.line:
                    continue
                match = _STRAY_ANNOTATION_RE.search(_text(node))
                if match:
                    line = _line(node) + _text(node).count("\n", 0, match.start())
                    self.fail(line, "@fluxbase: annotations only count inside the chatbot's /** ... */ doc comment")
            elif node.type not in ("string", "template_string"):
                stack.extend(node.children)

    # -- tools literal -------------------------------------------------------

    def tools(self, node) -> tuple[ToolEntry, ...]:
        node = _unwrap(node)
        if node.type != "array":
            self.fail(node, "`export const tools` must be an array literal")
        return tuple(ToolEntry(self.literal(item), _line(item)) for item in node.named_children if item.type != "comment")

    def literal(self, node) -> Any:
        node = _unwrap(node)
        kind = node.type
        if kind == "object":
            return self._object(node)
        if kind == "array":
            return [self.literal(item) for item in node.named_children if item.type != "comment"]
        if kind in ("string", "template_string"):
            return self.string(node)
        if kind == "number":
            return self._number(node, _text(node))
        if kind == "unary_expression" and _text(node)[:1] in "-+":
            arg = _unwrap(node.child_by_field_name("argument"))
            if arg.type == "number":
                value = self._number(arg, _text(arg))
                return -value if _text(node).startswith("-") else value
        if kind in ("true", "false"):
            return kind == "true"
        if kind == "null":
            return None
        self.fail(node, f"only JSON-like literals are allowed in `tools`, found {_describe(node)}")

    def _object(self, node) -> dict:
        result: dict[str, Any] = {}
        for member in node.named_children:
            if member.type == "comment":
                continue
            if member.type != "pair":
                self.fail(member, f"only `key: value` pairs are allowed in `tools` objects, found {_describe(member)}")
            key_node = member.child_by_field_name("key")
            if key_node.type == "property_identifier":
                key = _text(key_node)
            elif key_node.type == "string":
                key = self.string(key_node)
            elif key_node.type == "number":
                number = self._number(key_node, _text(key_node))
                key = str(int(number)) if float(number).is_integer() else str(number)  # JS: {1.0: x} has key "1"
            else:
                self.fail(key_node, f"object keys in `tools` must be names, strings or numbers, found {_describe(key_node)}")
            if key in result:
                self.fail(key_node, f"duplicate key {key!r}")
            result[key] = self.literal(member.child_by_field_name("value"))
        return result

    def _number(self, node, text: str) -> int | float:
        digits = text.replace("_", "")
        try:
            if digits[:2].lower() in ("0x", "0o", "0b"):
                return int(digits, {"x": 16, "o": 8, "b": 2}[digits[1].lower()])
            if re.fullmatch(r"\d+", digits):
                return int(digits)
            return float(digits)
        except ValueError:
            self.fail(node, f"unsupported number literal {text!r}")


def _unwrap(node):
    # `(...)`, `[...] as const` and `[...] satisfies T` do not change the value.
    while node.type in ("parenthesized_expression", "as_expression", "satisfies_expression") and node.named_child_count:
        node = node.named_children[0]
    return node


def _is_doc(node) -> bool:
    text = _text(node)
    return text.startswith("/**") and text != "/**/"


def _describe(node) -> str:
    names = {
        "identifier": "an identifier",
        "shorthand_property_identifier": "a shorthand property",
        "spread_element": "a spread (...)",
        "computed_property_name": "a computed key",
        "call_expression": "a function call",
        "method_definition": "a method",
        "undefined": "not JSON; use null",
    }
    snippet = _text(node).split("\n", 1)[0][:30]
    return f"`{snippet}` ({names.get(node.type, node.type.replace('_', ' '))})"
