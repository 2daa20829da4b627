"""Every user action of the TUI, defined once.

One `UiAction` per action: its id (Textual calls ``action_<id>`` on the widget that
owns the scope), the keys, a short description (footer, palette) and a help sentence
(the `?` screen, palette). BINDINGS of the app and of the list widgets, the command
palette and the help screen are all generated from `ACTIONS`, so a key can never be
documented in one place and bound differently in another.

Keys follow k9s where the two overlap: `/` filter, `?` help, `:` commands, `esc` back,
`q` quit, `ctrl+d` delete, `s` scale, `r` restart, `i` set image, `j`/`k` move.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from textual.binding import Binding

# Which widget class owns an action (and so defines its handler):
#   app    - KwatchApp; also offered in the command palette
#   list   - every cursor list pane (tree, lanes, endpoints, hazards)
#   tree   - the ownership tree only
#   lanes  - the lifecycle lanes only
#   dialog - confirmation and form dialogs
Scope = Literal["app", "list", "tree", "lanes", "dialog"]
Group = Literal["View", "Filter", "Navigate", "Cluster", "Panes", "Dialogs"]


@dataclass(frozen=True, slots=True)
class UiAction:
    id: str
    keys: str  # Textual key names, comma separated: "p,space"
    description: str
    help: str
    scope: Scope = "app"
    group: Group = "View"
    footer: bool = False  # shown in the footer (space is scarce at 80 columns)
    palette: bool = True  # offered in the command palette (app scope only)
    key_display: str | None = None

    @property
    def handler(self) -> str:
        """Name of the method Textual calls for this action."""
        return "action_" + self.id.split("(", 1)[0]

    @property
    def display_keys(self) -> str:
        return self.key_display or " ".join(_pretty(k) for k in self.keys.split(","))

    def binding(self) -> Binding:
        return Binding(
            self.keys,
            self.id,
            self.description,
            show=self.footer,
            key_display=self.key_display,
            tooltip=self.help,
        )


_PRETTY = {
    "question_mark": "?",
    "slash": "/",
    "colon": ":",
    "escape": "esc",
    "space": "space",
    "less_than_sign": "<",
    "greater_than_sign": ">",
    "exclamation_mark": "!",
    "ctrl+d": "ctrl+d",
    "pagedown": "pgdn",
    "pageup": "pgup",
    "plus": "+",
    "equals_sign": "=",
    "minus": "-",
    "shift+tab": "shift+tab",
}


def _pretty(key: str) -> str:
    return _PRETTY.get(key, key)


PANES: tuple[tuple[str, str], ...] = (
    ("tree", "Ownership"),
    ("lanes", "Pod lanes"),
    ("timeline", "Timeline"),
    ("endpoints", "Endpoints"),
    ("detail", "Detail"),
    ("hazards", "Hazards"),
)

ACTIONS: tuple[UiAction, ...] = (
    # -- view --------------------------------------------------------------------
    UiAction("help", "question_mark", "Help", "List every key and what it does.", footer=True),
    UiAction(
        "command_palette",
        "colon",
        "Commands",
        "Open the command palette (also ctrl+p): every action, searchable.",
        footer=True,
        palette=False,
    ),
    UiAction(
        "toggle_pause",
        "p,space",
        "Pause",
        "Freeze the view; events keep arriving and are counted. Press again to catch up.",
        footer=True,
    ),
    UiAction(
        "back",
        "escape",
        "Back",
        "Close the filter / leave a maximised pane / clear the text filter.",
        palette=False,
    ),
    UiAction("quit", "q", "Quit", "Leave kwatch.", footer=True),
    UiAction(
        "focus_selection",
        "f",
        "Focus selection",
        "Show only the selected object and its descendants in the timeline and lanes "
        "(toggle).",
        footer=True,
    ),
    UiAction(
        "bookmark",
        "b",
        "Bookmark",
        "Add a bookmark note to the recording (when recording).",
    ),
    UiAction(
        "toggle_theme",
        "T",
        "Light/dark",
        "Switch between Textual's light and dark themes.",
    ),
    # -- filter ------------------------------------------------------------------
    UiAction(
        "filter",
        "slash",
        "Filter",
        "Filter every pane by text (object names); ancestors stay for context.",
        group="Filter",
        footer=True,
    ),
    UiAction(
        "namespace",
        "n",
        "Namespace",
        "Switch the namespace shown (within the session's scope).",
        group="Filter",
        footer=True,
    ),
    UiAction(
        "selector",
        "l",
        "Labels",
        "Edit the label selector applied to the view (validated as you type).",
        group="Filter",
    ),
    UiAction(
        "clear_filters",
        "C",
        "Clear filters",
        "Drop the text filter, namespace and label selector of the view.",
        group="Filter",
    ),
    # -- cluster (teaching) actions ------------------------------------------------
    UiAction(
        "delete_pod",
        "ctrl+d",
        "Delete pod",
        "Delete the selected pod (asks first; refused in read-only sessions).",
        group="Cluster",
        footer=True,
    ),
    UiAction(
        "scale",
        "s",
        "Scale",
        "Scale the selected Deployment, ReplicaSet or StatefulSet (asks first).",
        group="Cluster",
        footer=True,
    ),
    UiAction(
        "rollout_restart",
        "r",
        "Restart",
        "Rollout-restart the selected Deployment, StatefulSet or DaemonSet (asks first).",
        group="Cluster",
    ),
    UiAction(
        "set_image",
        "i",
        "Set image",
        "Change a container image of the selected workload (asks first).",
        group="Cluster",
    ),
    # -- panes -------------------------------------------------------------------
    *(
        UiAction(
            f"toggle_pane('{pane}')",
            str(n),
            f"Toggle {title.lower()}",
            f"Show or hide the {title.lower()} pane.",
            group="Panes",
        )
        for n, (pane, title) in enumerate(PANES, start=1)
    ),
    UiAction(
        "zoom",
        "z",
        "Zoom",
        "Maximise the focused pane (press again or esc to restore).",
        group="Panes",
    ),
    UiAction(
        "resize('-')",
        "less_than_sign",
        "Narrower tree",
        "Make the ownership column narrower.",
        group="Panes",
    ),
    UiAction(
        "resize('+')",
        "greater_than_sign",
        "Wider tree",
        "Make the ownership column wider.",
        group="Panes",
    ),
    UiAction(
        "focus_next",
        "tab",
        "Next pane",
        "Move the focus to the next pane.",
        group="Panes",
        palette=False,
    ),
    UiAction(
        "focus_previous",
        "shift+tab",
        "Previous pane",
        "Move the focus to the previous pane.",
        group="Panes",
        palette=False,
    ),
    # -- navigation in list panes ---------------------------------------------------
    UiAction("cursor_down", "j,down", "Down", "Next line.", scope="list", group="Navigate"),
    UiAction("cursor_up", "k,up", "Up", "Previous line.", scope="list", group="Navigate"),
    UiAction(
        "page_down", "pagedown,ctrl+f", "Page down", "Next page.", scope="list", group="Navigate"
    ),
    UiAction(
        "page_up", "pageup,ctrl+b", "Page up", "Previous page.", scope="list", group="Navigate"
    ),
    UiAction("first", "g,home", "Top", "First line.", scope="list", group="Navigate"),
    UiAction("last", "G,end", "Bottom", "Last line.", scope="list", group="Navigate"),
    UiAction(
        "activate",
        "enter",
        "Go to object",
        "In the endpoints, hazards and lanes panes: select the line's pod in the tree.",
        scope="list",
        group="Navigate",
    ),
    UiAction(
        "toggle_node",
        "enter",
        "Expand/collapse",
        "Expand or collapse the selected group; on a '+N more' line, show more.",
        scope="tree",
        group="Navigate",
    ),
    UiAction(
        "expand", "right", "Expand", "Expand the selected group.", scope="tree", group="Navigate"
    ),
    UiAction(
        "collapse",
        "left",
        "Collapse",
        "Collapse the selected group, or go to its parent.",
        scope="tree",
        group="Navigate",
    ),
    UiAction(
        "dismiss_lane",
        "x",
        "Dismiss lane",
        "Remove the selected lane of a deleted pod.",
        scope="lanes",
        group="Navigate",
    ),
    UiAction(
        "zoom('+')",
        "plus,equals_sign",
        "Zoom in",
        "Show a shorter, more detailed stretch of time in the lanes.",
        scope="lanes",
        group="Navigate",
    ),
    UiAction(
        "zoom('-')",
        "minus",
        "Zoom out",
        "Show a longer stretch of time in the lanes (back to the whole session).",
        scope="lanes",
        group="Navigate",
    ),
    UiAction(
        "dismiss_gone",
        "X",
        "Dismiss gone lanes",
        "Remove the lanes of every deleted pod.",
        scope="lanes",
        group="Navigate",
    ),
    # -- dialogs -------------------------------------------------------------------
    UiAction(
        "confirm",
        "y",
        "Yes",
        "Confirm the change the dialog describes (enter on the button works too).",
        scope="dialog",
        group="Dialogs",
        footer=True,
    ),
    UiAction(
        "cancel",
        "n,escape",
        "Cancel",
        "Close the dialog without changing anything.",
        scope="dialog",
        group="Dialogs",
        footer=True,
    ),
)

BY_ID: dict[str, UiAction] = {a.id: a for a in ACTIONS}


def bindings(scope: Scope) -> list[Binding]:
    """BINDINGS for the widget class that owns `scope`."""
    return [a.binding() for a in ACTIONS if a.scope == scope]


def palette_actions() -> list[UiAction]:
    return [a for a in ACTIONS if a.scope == "app" and a.palette]
