"""The `index.html` gallery of an evaluation: one row per image (real | translated | reconstructed)."""

from __future__ import annotations

import html

from cyclegan_jax import files


def write_index(path: files.PathLike, title: str, sections: list[tuple[str, list[str], list[tuple[str, list[str]]]]],
                metrics: dict[str, float]) -> None:
    """Writes the gallery atomically.

    Args:
      path: the `index.html` to write; image paths are relative to its folder.
      title: the page heading.
      sections: (heading, column titles, rows) per translation direction, a row being
        (image name, [relative image paths, one per column]).
      metrics: shown as a table above the images.
    """
    esc = html.escape
    parts = ["<!DOCTYPE html>", "<html><head><meta charset='utf-8'>",
             f"<title>{esc(title)}</title>",
             "<style>body{font-family:sans-serif} td{padding:4px;vertical-align:top;"
             "text-align:center} img{max-width:256px}</style></head><body>",
             f"<h1>{esc(title)}</h1>"]
    if metrics:
        parts.append("<table border='1'><tr><th>metric</th><th>value</th></tr>")
        parts += [f"<tr><td>{esc(k)}</td><td>{v:.6g}</td></tr>" for k, v in metrics.items()]
        parts.append("</table>")
    for heading, columns, rows in sections:
        parts.append(f"<h2>{esc(heading)}</h2><table><tr><th>name</th>")
        parts += [f"<th>{esc(c)}</th>" for c in columns]
        parts.append("</tr>")
        for name, images in rows:
            cells = "".join(f"<td><a href='{esc(p)}'><img src='{esc(p)}'></a></td>" for p in images)
            parts.append(f"<tr><td>{esc(name)}</td>{cells}</tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    files.write_atomic(path, "\n".join(parts))
