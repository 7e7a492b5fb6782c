"""Drawing helpers for the book's own figures (not part of the package).

Every figure cell of the chapters draws through this module: figure() for a
matplotlib figure in the book's style, show() to display it as a themed SVG image.
The chapters' kernels find the module on PYTHONPATH (conf.py puts book/_ext there).
"""
from html import escape


def graph_svg(root, names, grads=False):
    """The graph below root as SVG text, in columns from the inputs (left) to root (right):
    each node a box with its data (and grad), each operation a circle, each arrow into
    an operation labelled with its local gradient."""
    font, char, row_h, r = 14, 8.6, 20, 13  # font size, width of a character, row height, circle radius
    level = {}

    def find_level(v):  # the inputs are on level 0, every other node one right of its highest child
        if v not in level:
            level[v] = 1 + max((find_level(c) for c in v._children), default=-1)
        return level[v]

    find_level(root)

    def rows(v):
        return [names[v], f'data {v.data:g}'] + ([f'grad {v.grad:g}'] if grads else [])

    # items: the box of v in column 2 level(v), the circle of its operation in the column
    # before, and a lane in every column a longer arrow passes through
    columns = [[] for _ in range(2 * level[root] + 1)]
    size, arrows = {}, []

    def place(item, col, width, height):
        columns[col].append(item)
        size[item] = (col, width, height)

    def visit(v):  # depth first from root, children in order: the first order within columns
        if ('box', v) in size:
            return
        place(('box', v), 2 * level[v], max(map(len, rows(v))) * char + 20, len(rows(v)) * row_h + 8)
        if v._children:
            place(('op', v), 2 * level[v] - 1, 2 * r, 2 * r)
            for child, local in zip(v._children, v._local_grads):
                lanes = [('lane', v, child, col) for col in range(2 * level[child] + 1, 2 * level[v] - 1)]
                arrows.append(([('box', child), *lanes, ('op', v)], local))
            arrows.append(([('op', v), ('box', v)], None))
            for child in v._children:
                visit(child)

    visit(root)
    for path, _ in arrows:
        for item in path[1:-1]:
            place(item, item[3], 0, 12)
    links = {item: [] for item in size}
    for path, _ in arrows:
        for a, b in zip(path, path[1:]):
            links[a].append(b)
            links[b].append(a)

    # heights: each item at the mean height of the items it is linked to, sweeping left
    # and right; within a column, items keep their order and do not overlap
    y = {item: 40.0 * i for column in columns for i, item in enumerate(column)}
    for sweep in range(10):
        for col in (range(len(columns)) if sweep % 2 == 0 else reversed(range(len(columns)))):
            column = columns[col]
            for item in column:
                y[item] = sum(y[n] for n in links[item]) / len(links[item])
            column.sort(key=y.get)
            for above, below in zip(column, column[1:]):
                y[below] = max(y[below], y[above] + (size[above][2] + size[below][2]) / 2 + 14)
    # widths: columns side by side, as wide as their widest item, with room for the
    # gradient labels before each column of operations
    left, right, edge = {}, {}, 10
    for col, column in enumerate(columns):
        width = max(size[item][1] for item in column)
        for item in column:
            left[item], right[item] = edge + (width - size[item][1]) / 2, edge + (width + size[item][1]) / 2
        edge += width + (64 if col % 2 == 0 else 34)
    width = edge - 34 + 10
    top = min(y[i] - size[i][2] / 2 for i in size) - 12
    height = max(y[i] + size[i][2] / 2 for i in size) + 12 - top
    for item in y:
        y[item] -= top

    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'font-family="DejaVu Sans, Verdana, sans-serif" font-size="{font}">']

    def text(x, y_, s, colour=C['ink'], weight='normal', size=font):
        svg.append(f'<text x="{x:.1f}" y="{y_ + size * 0.36:.1f}" text-anchor="middle" fill="{colour}" '
                   f'font-weight="{weight}" font-size="{size}">{escape(s)}</text>')

    labels = {}
    for path, local in arrows:  # the arrows first, the boxes and circles on top of them
        points = [(right[path[0]], y[path[0]])]
        for lane in path[1:-1]:
            points += [(left[lane], y[lane]), (right[lane], y[lane])]
        end = path[-1]
        if end[0] == 'op':  # arrows into an operation meet its circle side by side
            ins = sorted((p for p, _ in arrows if p[-1] == end), key=lambda p: y[p[-2]])
            dy = (ins.index(path) - (len(ins) - 1) / 2) * 9
            points.append((left[end] + r - (r * r - dy * dy) ** 0.5 - 2, y[end] + dy))
        else:
            points.append((left[end] - 2, y[end]))
        d = f'M{points[0][0]:.1f},{points[0][1]:.1f}'
        for (x0, y0), (x1, y1) in zip(points, points[1:]):
            d += (f' L{x1:.1f},{y1:.1f}' if y0 == y1 else
                  f' C{(x0 + x1) / 2:.1f},{y0:.1f} {(x0 + x1) / 2:.1f},{y1:.1f} {x1:.1f},{y1:.1f}')
        x1, y1 = points[-1]  # every arrow ends level: its head points right
        svg.append(f'<path d="{d}" fill="none" stroke="{C["muted"]}" stroke-width="1.4"/>')
        svg.append(f'<path d="M{x1 - 8:.1f},{y1 - 4:.1f} L{x1:.1f},{y1:.1f} L{x1 - 8:.1f},{y1 + 4:.1f} z" '
                   f'fill="{C["muted"]}"/>')
        if local is not None:  # halfway along the last stretch, apart from the other labels of its circle
            (x0, y0), (x1, y1) = points[-2], points[-1]
            labels.setdefault(end, []).append([(x0 + x1) / 2, (y0 + y1) / 2, f'{local:g}'])
    for group in labels.values():
        group.sort(key=lambda label: label[1])
        for above, below in zip(group, group[1:]):
            below[1] = max(below[1], above[1] + 22)
    for x, y_, s in (label for group in labels.values() for label in group):
        w = len(s) * char * 0.9 + 10
        svg.append(f'<rect x="{x - w / 2:.1f}" y="{y_ - 10:.1f}" width="{w:.1f}" height="20" rx="10" '
                   f'fill="{C["rose"]}" stroke="{C["red"]}" stroke-width="0.8"/>')
        text(x, y_, s, colour=C['red'], size=font - 1)
    for item, (col, w, h) in size.items():
        kind, v = item[:2]
        if kind == 'box':
            x0, y0 = left[item], y[item] - h / 2
            svg.append(f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{w:.1f}" height="{h:.1f}" rx="6" '
                       f'fill="{C["tint"]}" stroke="{C["blue"]}" stroke-width="1.4"/>')
            for i, s in enumerate(rows(v)):
                if i:
                    svg.append(f'<line x1="{x0:.1f}" y1="{y0 + 4 + i * row_h:.1f}" x2="{x0 + w:.1f}" '
                               f'y2="{y0 + 4 + i * row_h:.1f}" stroke="{C["blue"]}" stroke-width="0.7"/>')
                text(x0 + w / 2, y0 + 4 + (i + 0.5) * row_h, s, weight='bold' if i == 0 else 'normal')
        elif kind == 'op':
            svg.append(f'<circle cx="{left[item] + r:.1f}" cy="{y[item]:.1f}" r="{r}" fill="{C["paper"]}" '
                       f'stroke="{C["muted"]}" stroke-width="1.3"/>')
            text(left[item] + r, y[item], '×' if '*' in names[v] else '+')
    svg.append('</svg>')
    return '\n'.join(svg)


def markdown_table(header, rows):
    """Rows of cells under a header, as the text of a Markdown table."""
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    lines += ['| ' + ' | '.join(map(str, row)) + ' |' for row in rows]
    return '\n'.join(lines)


def gpt_figure(config):
    """The model of book/06-gpt.md as a matplotlib figure, top to bottom, sizes read from
    config: the residual stream is the thick line, each block a branch off it and back."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch, Rectangle

    n, wide, V = config.n_embd, 4 * config.n_embd, config.vocab_size
    stream_colour, block_colour, line = C['blue'], C['tint'], C['muted']
    style()
    fig, ax = plt.subplots(figsize=(COLUMN * 0.9, 9.6))
    ax.set_xlim(0, 10)
    ax.set_ylim(-21.6, 0.4)
    ax.axis('off')

    def box(x, y, text, w=3.6, h=1.0, fill=block_colour, edge=stream_colour):
        ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle='round,pad=0.02,rounding_size=0.15',
                                    facecolor=fill, edgecolor=edge, linewidth=1.2, zorder=3))
        ax.text(x, y, text, ha='center', va='center', fontsize=9.5, zorder=4)

    def arrow(start, end, colour=line, width=1.2):
        ax.annotate('', xy=end, xytext=start, zorder=2,
                    arrowprops=dict(arrowstyle='-|>', color=colour, linewidth=width, shrinkA=0, shrinkB=0))

    def plus(x, y):
        ax.plot([x], [y], marker='o', markersize=17, markerfacecolor=C['paper'], markeredgecolor=stream_colour,
                markeredgewidth=1.6, zorder=3)
        ax.text(x, y, '+', ha='center', va='center', fontsize=12, zorder=4)

    s, b = 2.6, 7.0  # x of the residual stream and of the blocks' branches
    # inputs and embeddings
    box(1.6, -0.2, f'token id\n(one of {V})', w=2.6, h=0.9, fill=C['paper'], edge=line)
    box(5.8, -0.2, f'position\n(0 to {config.block_size - 1})', w=2.6, h=0.9, fill=C['paper'], edge=line)
    box(1.6, -1.7, f'wte: {V} x {n}\nlook up a row', w=2.6)
    box(5.8, -1.7, f'wpe: {config.block_size} x {n}\nlook up a row', w=2.6)
    arrow((1.6, -0.65), (1.6, -1.2))
    arrow((5.8, -0.65), (5.8, -1.2))
    plus(s, -3.1)
    arrow((1.6, -2.2), (s - 0.2, -2.9))
    arrow((5.8, -2.2), (s + 0.22, -2.93))
    box(s, -4.3, f'rmsnorm ({n})', w=2.6, h=0.8)
    arrow((s, -3.38), (s, -3.9))
    # one layer: the attention block, then the MLP block, each a branch off the stream
    top, bottom = -5.2, -17.0
    ax.add_patch(Rectangle((0.3, bottom), 9.4, top - bottom, facecolor='none', edgecolor=line,
                           linestyle='--', linewidth=1, zorder=1))
    ax.text(9.6, top - 0.3, f'a layer (this model\nhas n_layer = {config.n_layer})',
            ha='right', va='top', fontsize=9, color=line)

    def branch(y_split, boxes, y_join):
        """A block: from the stream at y_split, through boxes on the right, added back at y_join."""
        ax.plot([s, b], [y_split, y_split], color=line, linewidth=1.2, zorder=2)
        arrow((b, y_split), (b, boxes[0][0] + boxes[0][2] / 2))
        for (y, text, h), (y_next, _, h_next) in zip(boxes, boxes[1:] + [(None, None, None)]):
            box(b, y, text, w=4.6, h=h)
            if y_next is not None:
                arrow((b, y - h / 2), (b, y_next + h_next / 2))
        y_last, _, h_last = boxes[-1]
        ax.plot([b, b], [y_last - h_last / 2, y_join], color=line, linewidth=1.2, zorder=2)
        arrow((b, y_join), (s + 0.25, y_join))
        plus(s, y_join)

    branch(-5.9, [(-6.7, f'rmsnorm ({n})', 0.7),
                  (-8.2, f'multi-head attention\n{config.n_head} heads x {config.head_dim} numbers\n'
                         f'q, k, v: {n} -> {n} each, over the KV cache', 1.5),
                  (-9.7, f'attn_wo: {config.n_embd} -> {n}', 0.7)], -10.6)
    branch(-11.4, [(-12.2, f'rmsnorm ({n})', 0.7),
                   (-13.4, f'mlp_fc1: {n} -> {wide}', 0.7),
                   (-14.5, f'ReLU ({wide})', 0.7),
                   (-15.6, f'mlp_fc2: {wide} -> {n}', 0.7)], -16.3)
    # the stream itself, drawn last under the boxes, and the output
    ax.plot([s, s], [-4.7, -17.9], color=stream_colour, linewidth=4, zorder=1.5, solid_capstyle='butt')
    ax.text(s - 0.35, -8.2, f'residual stream ({n} numbers)', rotation=90, ha='center', va='center',
            fontsize=9.5, color=stream_colour)
    box(s, -18.3, f'lm_head: {n} -> {V}', w=3.0, h=0.8)
    box(s, -20.6, f'logits: {V} scores,\none per possible next token', w=4.2, h=1.0, fill=C['paper'], edge=line)
    arrow((s, -18.7), (s, -20.1))
    return fig


# One style for every figure of the book. Figures are drawn for the 688-pixel
# content column (SVG sizes are in points: 72 to the inch, 96 pixels to the inch
# in the browser) and written as SVG with a transparent background; each colour
# has a light version (drawn) and a dark one, which the SVG itself switches to
# when the page is dark (the page's color-scheme reaches an SVG shown as an image).
COLUMN = 688 / 96  # inches
COLOURS = {  # name: (on the light page, on the dark page)
    'blue': ('#1f6fb4', '#6aaee8'),
    'orange': ('#d2691e', '#f2a65a'),
    'green': ('#2e8540', '#67c97a'),
    'red': ('#c0392b', '#f1776a'),
    'purple': ('#7d52b3', '#b79ae8'),
    'brown': ('#8c6d31', '#cfae6c'),
    'ink': ('#262626', '#d5dbe1'),     # text, axes, ticks
    'muted': ('#6e6e6e', '#a3acb6'),   # reference lines, secondary marks
    'faint': ('#c8c8c8', '#4a5361'),   # zero lines, hatching
    'paper': ('#ffffff', '#14181e'),   # the page: legend backgrounds, bar edges
    'tint': ('#eef4fb', '#1c2836'),    # boxes of a diagram
    'rose': ('#fdecea', '#3b2224'),    # labels of a diagram
}
C = {name: light for name, (light, _) in COLOURS.items()}
CYCLE = ['blue', 'orange', 'green', 'red', 'purple', 'brown']
STYLE = {
    'figure.figsize': (COLUMN, 3.4),
    'figure.dpi': 96,
    'figure.constrained_layout.use': True,
    'font.family': 'DejaVu Sans',
    'font.size': 10,
    'axes.titlesize': 10.5,
    'axes.labelsize': 10,
    'xtick.labelsize': 9.5,
    'ytick.labelsize': 9.5,
    'legend.fontsize': 9.5,
    'legend.facecolor': C['paper'],
    'legend.edgecolor': C['faint'],
    'legend.framealpha': 0.9,
    'text.color': C['ink'],
    'axes.labelcolor': C['ink'],
    'axes.edgecolor': C['ink'],
    'axes.titlecolor': C['ink'],
    'xtick.color': C['ink'],
    'ytick.color': C['ink'],
    'grid.color': C['faint'],
    'axes.spines.top': False,
    'axes.spines.right': False,
    'lines.linewidth': 1.6,
    'patch.edgecolor': C['paper'],
    'hatch.color': C['faint'],
    'svg.fonttype': 'path',   # text as outlines: the same letters in every browser
    'svg.hashsalt': 'microgpt',  # the same file from the same figure
}


def style():
    """Apply the book's matplotlib style (every figure cell calls figure(), which does this)."""
    import matplotlib as mpl
    from cycler import cycler

    mpl.rcParams.update(STYLE)
    # the colours, then the colours dashed: seven lines or more stay apart
    mpl.rcParams['axes.prop_cycle'] = cycler(linestyle=['-', '--']) * cycler(color=[C[c] for c in CYCLE])


def figure(nrows=1, ncols=1, height=3.4, width=COLUMN, **kwargs):
    """A figure in the book's style, the width of the column: (fig, axes) as plt.subplots."""
    import matplotlib.pyplot as plt

    style()
    return plt.subplots(nrows, ncols, figsize=(width, height), **kwargs)


def ramp(name='blue'):
    """A colour map from transparent to one colour: heat maps read on either background."""
    from matplotlib.colors import ListedColormap, to_rgb

    r, g, b = to_rgb(C[name])
    return ListedColormap([(r, g, b, a / 255) for a in range(256)])


def heatmap(ax, grid, xlabels, ylabels, vmax=1.0, colour='blue'):
    """grid (rows of numbers, nan for none) as coloured cells, row 0 on top, labelled."""
    import numpy as np

    grid = np.asarray(grid, dtype=float)
    mesh = ax.pcolormesh(np.ma.masked_invalid(grid), cmap=ramp(colour), vmin=0, vmax=vmax,
                         edgecolors=C['faint'], linewidth=0.3)
    ax.set_xlim(0, grid.shape[1])
    ax.set_ylim(grid.shape[0], 0)
    ax.set_aspect('equal')
    ax.set_xticks([i + 0.5 for i in range(grid.shape[1])], xlabels)
    ax.set_yticks([i + 0.5 for i in range(grid.shape[0])], ylabels)
    for tick, text in zip(ax.get_xticklabels(), xlabels):
        tick.set_rotation(90 if len(text) > 1 else 0)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    return mesh


def matrix(ax, rows, title, row_labels, masked=None):
    """A matrix of signed numbers as cells: blue for positive, orange for negative, more
    opaque the larger; masked cells (a set of (i, j)) hatched. Rows labelled, columns numbered."""
    import numpy as np
    from matplotlib.patches import Rectangle

    m = np.asarray(rows, dtype=float)
    top = np.nanmax(np.abs(m)) or 1.0
    for colour, part in (('blue', np.where(m > 0, m, np.nan)), ('orange', np.where(m < 0, -m, np.nan))):
        ax.pcolormesh(np.ma.masked_invalid(part), cmap=ramp(colour), vmin=0, vmax=top,
                      edgecolors=C['faint'], linewidth=0.3)
    for i, j in masked or ():
        ax.add_patch(Rectangle((j, i), 1, 1, facecolor='none', edgecolor=C['faint'], hatch='////',
                               linewidth=0.3))
    ax.set_xlim(0, m.shape[1])
    ax.set_ylim(m.shape[0], 0)
    ax.set_aspect('equal')
    ax.set_yticks([i + 0.5 for i in range(m.shape[0])], row_labels)
    ax.set_xticks([])
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(title, fontsize=9.5)


def colorbar(fig, mesh, ax, label):
    """A colour bar for a heat map, drawn as vectors (so it changes with the theme too)."""
    bar = fig.colorbar(mesh, ax=ax, label=label, shrink=0.8)
    bar.solids.set_rasterized(False)
    bar.outline.set_visible(False)
    return bar


def label_points(ax, xy, texts, colours, size=11):
    """Write each text beside its point, at the nearest place where it overlaps no
    other text and no point (tried in rings around the point, closest first)."""
    import math

    ax.figure.canvas.draw()  # fixes the limits, so data can be turned into pixels
    to_px = ax.transData.transform
    scale = ax.figure.dpi / 72
    w, h = 0.62 * size * scale, 0.8 * size * scale  # a letter's box, in pixels
    points = [to_px(p) for p in xy]
    taken = [(x - 3 * scale, y - 3 * scale, x + 3 * scale, y + 3 * scale) for x, y in points]

    def free(box):
        return sum(not (box[2] < b[0] or b[2] < box[0] or box[3] < b[1] or b[3] < box[1]) for b in taken)

    fig_w, fig_h = ax.figure.canvas.get_width_height()
    for (x, y), data, text, colour in zip(points, xy, texts, colours):
        width = w * len(text)
        best = None
        for radius in (1.0, 1.6, 2.4, 3.4):
            for k in range(8):
                a = math.pi / 4 * k
                cx = x + math.cos(a) * radius * (width / 2 + 4 * scale)
                cy = y + math.sin(a) * radius * (h / 2 + 4 * scale)
                box = (cx - width / 2, cy - h / 2, cx + width / 2, cy + h / 2)
                if best is None or free(box) < best[0]:
                    best = (free(box), cx, cy, box, radius)
            if best[0] == 0:
                break
        _, cx, cy, box, radius = best
        taken.append(box)
        # in fractions of the figure, which do not change when the SVG is written at 72 dpi
        ax.annotate(text, tuple(data), xytext=(cx / fig_w, cy / fig_h), textcoords='figure fraction',
                    ha='center', va='center', fontsize=size, color=colour,
                    arrowprops=None if radius == 1.0 else  # pushed away: a thin line to its point
                    dict(arrowstyle='-', color=colour, linewidth=0.6, shrinkA=5, shrinkB=3))


def themed_svg(svg):
    """SVG text with a style sheet that, on a dark page, swaps each colour of COLOURS for
    its dark version (the drawn colours stay for anything that does not read CSS)."""
    import re

    rules = ''.join(f'[style*="{prop}: {light}"]{{{prop}:{dark}!important}}'
                    for light, dark in COLOURS.values() for prop in ('fill', 'stroke'))
    rules += ''.join(f'[{prop}="{light}"]{{{prop}:{dark}}}'
                     for light, dark in COLOURS.values() for prop in ('fill', 'stroke'))
    sheet = f'<style>@media (prefers-color-scheme: dark){{{rules}}}</style>'
    # matplotlib writes the glyph of a space as a path with no d: SVG (and epubcheck) wants one
    svg = re.sub(r'<path (?![^>]*\bd=)', '<path d="" ', svg)
    start = svg.index('<svg')
    end = svg.index('>', start) + 1
    return svg[:end] + sheet + svg[end:]


def svg_image(svg, width=None):
    """SVG text (or a matplotlib figure, closed on the way) as a themed image to display
    or glue, at its own size in CSS pixels: wider than the column, it shrinks to fit and
    links to itself, to be opened full size."""
    import io
    import re

    from IPython.display import SVG

    if not isinstance(svg, str):
        import matplotlib.pyplot as plt

        out = io.StringIO()
        svg.savefig(out, format='svg', transparent=True, metadata={'Date': None})
        plt.close(svg)
        svg = out.getvalue()
    svg = themed_svg(svg)
    size = re.search(r'<svg[^>]*?\swidth="([\d.]+)(pt|px)?"', svg)
    px = float(size[1]) * (4 / 3 if size[2] == 'pt' else 1)
    return SVG(svg, metadata={'width': round(px)})


def show(fig):
    """Display a matplotlib figure (or SVG text) as a themed SVG image."""
    from IPython.display import display

    display(svg_image(fig))


def token_ticks(ax, labels):
    """Tokens as the x tick labels of bars 0, 1, ...; a long one ('BOS') is turned on
    its side so that it does not run into its neighbour."""
    ax.set_xticks(range(len(labels)), labels)
    for tick, text in zip(ax.get_xticklabels(), labels):
        tick.set_rotation(90 if len(text) > 1 else 0)
