"""The details pane: the selected frame's protocol tree, as Wireshark's middle pane.

Labels are the dissector's own (Node.text(), the `read -V` lines), made terminal-safe and
put in rich Text (never markup). Generated items are dim and in brackets; expert items and
findings are coloured by severity.

`W` switches the pane to Wireshark's own dissection of the frame (crosscheck.py; fetched by
the app in a worker) and back.
"""
from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from analyzer.textsafe import safe
from dissectors.fields import Severity
from dissectors.tree import Node

from .crosscheck import WsNode, WsResult

SEVERITY_STYLES = {Severity.CHAT: Style(color="blue"), Severity.NOTE: Style(color="cyan"),
                   Severity.WARN: Style(color="yellow", bold=True),
                   Severity.ERROR: Style(color="red", bold=True)}
GENERATED = Style(italic=True, dim=True)
WIRESHARK = Style(color="bright_blue", bold=True)


def node_label(node: Node) -> Text:
    """One tree line, safe and styled."""
    text = Text(safe(node.text()))
    if node.expert is not None:
        text.stylize(SEVERITY_STYLES.get(node.expert.severity, Style()))
    elif node.generated:
        text.stylize(GENERATED)
    return text


class DetailsTree(Tree[Node | WsNode]):
    """Protocol layers, fields, generated analysis items and findings of one frame."""

    BINDINGS = [
        Binding("asterisk,E", "expand_all", "Expand all"),
        Binding("minus,C", "collapse_all", "Collapse all"),
        Binding("enter", "apply_filter", "Apply as filter"),
        Binding("space", "toggle_node", "Open/close", show=False),
        Binding("W", "wireshark", "Wireshark's view"),
    ]

    class FieldSelected(Message):
        """A tree item was highlighted: the hex and explain panes follow it."""

        def __init__(self, node: Node | None) -> None:
            super().__init__()
            self.node = node

    class ApplyFilter(Message):
        """Enter on a field: filter the packet list on it (Wireshark's Apply as Filter)."""

        def __init__(self, node: Node) -> None:
            super().__init__()
            self.node = node

    class ToggleWireshark(Message):
        """W: show Wireshark's dissection of the frame instead of ours, or ours again."""

    class WiresharkFieldSelected(Message):
        """A line of Wireshark's tree was highlighted: the hex pane shows its bytes."""

        def __init__(self, node: WsNode) -> None:
            super().__init__()
            self.node = node

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("No frame", id=id)
        self.show_root = False
        self.guide_depth = 2
        self._items: dict[int, TreeNode[Node]] = {}
        self.frame_root: Node | None = None

    def show(self, root: Node | None, title: str) -> None:
        """Replace the tree with one frame's (root=None: a message instead)."""
        self.clear()
        self._items.clear()
        self.frame_root = root
        self.root.set_label(Text(title))
        if root is None:
            self.root.add_leaf(Text(title))
            return

        def add(parent: TreeNode[Node], node: Node) -> None:
            for child in node.children or ():
                if child.hidden:
                    continue
                if child.children:
                    item = parent.add(node_label(child), data=child)
                    add(item, child)
                else:
                    item = parent.add_leaf(node_label(child), data=child)
                self._items[id(child)] = item
        add(self.root, root)
        self.root.expand()

    def show_wireshark(self, result: WsResult) -> None:
        """Wireshark's tree of the frame (from crosscheck.fetch), or its one-line message."""
        self.clear()
        self._items.clear()
        self.frame_root = None
        self.root.set_label(Text(safe(result.title)))
        self.root.add_leaf(Text(safe(result.title), WIRESHARK))
        if result.note:
            self.root.add_leaf(Text(safe(result.note), GENERATED))

        def add(parent: TreeNode, nodes: list[WsNode]) -> None:
            for n in nodes:
                label = Text(safe(n.label))
                if n.children:
                    add(parent.add(label, data=n), n.children)
                else:
                    parent.add_leaf(label, data=n)
        add(self.root, result.layers)
        self.root.expand()

    def select_node_for(self, node: Node) -> None:
        """Highlight the item of a tree node (opening its parents)."""
        item = self._items.get(id(node))
        if item is None:
            return
        parent = item.parent
        while parent is not None:
            parent.expand()
            parent = parent.parent
        self.call_after_refresh(self._move_to, item)

    def _move_to(self, item: TreeNode[Node]) -> None:
        self.move_cursor(item)
        self.scroll_to_node(item, animate=False)

    def action_apply_filter(self) -> None:
        item = self.cursor_node
        if item is not None and isinstance(item.data, Node):
            self.post_message(self.ApplyFilter(item.data))

    def action_wireshark(self) -> None:
        self.post_message(self.ToggleWireshark())

    def action_expand_all(self) -> None:
        self.root.expand_all()

    def action_collapse_all(self) -> None:
        for child in self.root.children:
            child.collapse_all()

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted) -> None:
        event.stop()
        data = event.node.data
        if isinstance(data, WsNode):
            self.post_message(self.WiresharkFieldSelected(data))
        else:
            self.post_message(self.FieldSelected(data))
