"""Small SVG charts, drawn on the server: no JavaScript, no build step.

Each function returns one ``<svg>`` element as text, with a ``<title>``
for screen readers and a ``data-chart`` name that tests and scripts can
find it by. Every label is escaped. Scales start at zero; an empty chart
says so in words instead of drawing axes.
"""

from html import escape

__all__ = ['line_chart', 'bar_chart', 'timeline', 'progress_bars',
           'PALETTE']

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 150, 24, 28
PALETTE = ('#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b',
           '#e377c2', '#7f7f7f', '#bcbd22', '#17becf')


def _svg(name, title, body, height=HEIGHT):
    return ('<svg xmlns="http://www.w3.org/2000/svg" data-chart="%s" '
            'role="img" viewBox="0 0 %d %d" width="%d" height="%d">'
            '<title>%s</title><text x="4" y="14" class="chart-title">%s'
            '</text>%s</svg>' % (escape(name), WIDTH, height, WIDTH, height,
                                 escape(title), escape(title), body))


def _empty(name, title, height=HEIGHT):
    return _svg(name, title, '<text x="%d" y="%d" class="empty">no data'
                '</text>' % (WIDTH // 2 - 30, height // 2), height)


def _axes(top, labels, plot_w, plot_h):
    """The y axis from 0 to ``top`` and up to 8 x labels."""
    parts = ['<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999"/>'
             % (LEFT, TOP + plot_h, LEFT + plot_w, TOP + plot_h)]
    for fraction in (0, 0.5, 1):
        y = TOP + plot_h * (1 - fraction)
        parts.append('<text x="%d" y="%.1f" text-anchor="end" '
                     'class="tick">%s</text>'
                     % (LEFT - 4, y + 4, _number(top * fraction)))
    step = max(1, len(labels) // 8)
    for i in range(0, len(labels), step):
        x = LEFT + plot_w * (i + 0.5) / len(labels)
        parts.append('<text x="%.1f" y="%d" text-anchor="middle" '
                     'class="tick">%s</text>'
                     % (x, TOP + plot_h + 16, escape(labels[i])))
    return parts


def _number(value):
    return '%d' % value if value == int(value) else '%.1f' % value


def _legend(names):
    return ['<g class="legend"><rect x="%d" y="%d" width="10" height="10" '
            'fill="%s"/><text x="%d" y="%d">%s</text></g>'
            % (WIDTH - RIGHT + 12, TOP + 16 * i, PALETTE[i % len(PALETTE)],
               WIDTH - RIGHT + 26, TOP + 16 * i + 9, escape(name[:20]))
            for i, name in enumerate(names)]


def line_chart(name, title, labels, series):
    """Lines over the x ``labels``: ``series`` maps a name to one value
    per label."""
    top = max((max(values) for values in series.values() if values),
              default=0)
    if not labels or not top:
        return _empty(name, title)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = _axes(top, labels, plot_w, plot_h)
    for i, (label, values) in enumerate(series.items()):
        points = ' '.join(
            '%.1f,%.1f' % (LEFT + plot_w * (j + 0.5) / len(labels),
                           TOP + plot_h * (1 - value / top))
            for j, value in enumerate(values))
        parts.append('<polyline class="series" data-series="%s" points="%s" '
                     'fill="none" stroke="%s" stroke-width="2"/>'
                     % (escape(label), points, PALETTE[i % len(PALETTE)]))
    parts += _legend(list(series))
    return _svg(name, title, ''.join(parts))


def bar_chart(name, title, labels, values):
    """One bar per label."""
    top = max(values, default=0)
    if not labels or not top:
        return _empty(name, title)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = _axes(top, labels, plot_w, plot_h)
    width = plot_w / len(labels)
    for i, value in enumerate(values):
        height = plot_h * value / top
        parts.append('<rect class="bar" x="%.1f" y="%.1f" width="%.1f" '
                     'height="%.1f" fill="%s"><title>%s: %s</title></rect>'
                     % (LEFT + width * i + 1, TOP + plot_h - height,
                        max(width - 2, 1), height, PALETTE[0],
                        escape(labels[i]), _number(value)))
    return _svg(name, title, ''.join(parts))


def timeline(name, title, rows):
    """Horizontal spans: ``rows`` of (label, start, end, finished)."""
    if not rows:
        return _empty(name, title)
    height = TOP + BOTTOM + 16 * len(rows)
    first = min(row[1] for row in rows)
    last = max(row[2] for row in rows)
    span = max(last - first, 1)
    plot_w = WIDTH - LEFT - RIGHT - 60
    parts = []
    for i, (label, start, end, finished) in enumerate(rows):
        x = LEFT + 60 + plot_w * (start - first) / span
        parts.append('<text x="%d" y="%d" class="tick">%s</text>'
                     '<rect class="span" x="%.1f" y="%d" width="%.1f" '
                     'height="11" fill="%s"><title>%s</title></rect>'
                     % (4, TOP + 16 * i + 10, escape(label[:18]), x,
                        TOP + 16 * i, max(plot_w * (end - start) / span, 2),
                        '#999' if finished else PALETTE[2], escape(label)))
    return _svg(name, title, ''.join(parts), height)


def progress_bars(name, title, rows):
    """One bar per goal: ``rows`` of (label, mean progress 0..1,
    completed, total)."""
    if not rows:
        return _empty(name, title)
    height = TOP + BOTTOM + 18 * len(rows)
    plot_w = WIDTH - LEFT - RIGHT - 60
    parts = []
    for i, (label, fraction, completed, total) in enumerate(rows):
        y = TOP + 18 * i
        fraction = min(max(fraction, 0.0), 1.0)
        parts.append(
            '<text x="4" y="%d" class="tick">%s</text>'
            '<rect x="%d" y="%d" width="%d" height="12" fill="#eee"/>'
            '<rect class="progress" x="%d" y="%d" width="%.1f" height="12" '
            'fill="%s"><title>%s: %.0f%%</title></rect>'
            '<text x="%d" y="%d" class="tick">%d of %d completed</text>'
            % (y + 10, escape(label[:18]), LEFT + 60, y, plot_w, LEFT + 60,
               y, plot_w * fraction, PALETTE[1], escape(label),
               fraction * 100, LEFT + 66 + plot_w, y + 10, completed, total))
    return _svg(name, title, ''.join(parts), height)
