"""A report of markdown tables filled by the reliability tests and printed by their conftest."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Table:
    """A markdown table filled cell by cell; rows and columns keep their first-seen order."""

    title: str
    columns: list[str]
    rows: dict[str, dict[str, str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def set(self, row: str, column: str, text: str) -> None:
        """Set one cell (a new column is appended)."""
        if column not in self.columns:
            self.columns.append(column)
        self.rows.setdefault(row, {})[column] = text

    def markdown(self) -> str:
        """The table, then its notes."""
        header = ["", *self.columns]
        body = [[row, *(cells.get(c, "") for c in self.columns)] for row, cells in self.rows.items()]
        widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

        def line(cells: list[str]) -> str:
            return "| " + " | ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)) + " |"

        lines = [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, body)]
        return "\n".join([f"## {self.title}", "", *lines, "", *self.notes]).rstrip() + "\n"


@dataclass
class Report:
    """The tables of this session, by the file name they are written to."""

    tables: dict[str, Table] = field(default_factory=dict)

    def table(self, file: str, title: str, columns: list[str] | None = None) -> Table:
        """The table written to ``file`` (created on first use)."""
        return self.tables.setdefault(file, Table(title, list(columns or [])))
