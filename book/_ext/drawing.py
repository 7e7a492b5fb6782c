"""Drawing helpers for the book's own figures (not part of the package).

Chapter cells run with book/ as the working directory and import this module
after putting book/_ext on sys.path.
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

    def text(x, y_, s, colour='#1a1a1a', weight='normal', size=font):
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
        svg.append(f'<path d="{d}" fill="none" stroke="#888" stroke-width="1.4"/>')
        svg.append(f'<path d="M{x1 - 8:.1f},{y1 - 4:.1f} L{x1:.1f},{y1:.1f} L{x1 - 8:.1f},{y1 + 4:.1f} z" '
                   'fill="#888"/>')
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
                   f'fill="#fdecea" stroke="#c0392b" stroke-width="0.8"/>')
        text(x, y_, s, colour='#b03a2e', size=font - 1)
    for item, (col, w, h) in size.items():
        kind, v = item[:2]
        if kind == 'box':
            x0, y0 = left[item], y[item] - h / 2
            svg.append(f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{w:.1f}" height="{h:.1f}" rx="6" '
                       f'fill="#eef4fb" stroke="#1f77b4" stroke-width="1.4"/>')
            for i, s in enumerate(rows(v)):
                if i:
                    svg.append(f'<line x1="{x0:.1f}" y1="{y0 + 4 + i * row_h:.1f}" x2="{x0 + w:.1f}" '
                               f'y2="{y0 + 4 + i * row_h:.1f}" stroke="#1f77b4" stroke-width="0.7"/>')
                text(x0 + w / 2, y0 + 4 + (i + 0.5) * row_h, s, weight='bold' if i == 0 else 'normal')
        elif kind == 'op':
            svg.append(f'<circle cx="{left[item] + r:.1f}" cy="{y[item]:.1f}" r="{r}" fill="#f4f4f4" '
                       f'stroke="#555" stroke-width="1.3"/>')
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
    stream_colour, block_colour = '#1f77b4', '#eef4fb'
    fig, ax = plt.subplots(figsize=(6.6, 9.6))
    ax.set_xlim(0, 10)
    ax.set_ylim(-21.6, 0.4)
    ax.axis('off')

    def box(x, y, text, w=3.6, h=1.0, fill=block_colour, edge=stream_colour):
        ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle='round,pad=0.02,rounding_size=0.15',
                                    facecolor=fill, edgecolor=edge, linewidth=1.2, zorder=3))
        ax.text(x, y, text, ha='center', va='center', fontsize=9.5, zorder=4)

    def arrow(start, end, colour='#555', width=1.2):
        ax.annotate('', xy=end, xytext=start, zorder=2,
                    arrowprops=dict(arrowstyle='-|>', color=colour, linewidth=width, shrinkA=0, shrinkB=0))

    def plus(x, y):
        ax.plot([x], [y], marker='o', markersize=17, markerfacecolor='white', markeredgecolor=stream_colour,
                markeredgewidth=1.6, zorder=3)
        ax.text(x, y, '+', ha='center', va='center', fontsize=12, zorder=4)

    s, b = 2.6, 7.0  # x of the residual stream and of the blocks' branches
    # inputs and embeddings
    box(1.6, -0.2, f'token id\n(one of {V})', w=2.6, h=0.9, fill='white', edge='#555')
    box(5.8, -0.2, f'position\n(0 to {config.block_size - 1})', w=2.6, h=0.9, fill='white', edge='#555')
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
    ax.add_patch(Rectangle((0.3, bottom), 9.4, top - bottom, facecolor='none', edgecolor='#999',
                           linestyle='--', linewidth=1, zorder=1))
    ax.text(9.6, top - 0.3, f'a layer (this model\nhas n_layer = {config.n_layer})',
            ha='right', va='top', fontsize=9, color='#555')

    def branch(y_split, boxes, y_join):
        """A block: from the stream at y_split, through boxes on the right, added back at y_join."""
        ax.plot([s, b], [y_split, y_split], color='#555', linewidth=1.2, zorder=2)
        arrow((b, y_split), (b, boxes[0][0] + boxes[0][2] / 2))
        for (y, text, h), (y_next, _, h_next) in zip(boxes, boxes[1:] + [(None, None, None)]):
            box(b, y, text, w=4.6, h=h)
            if y_next is not None:
                arrow((b, y - h / 2), (b, y_next + h_next / 2))
        y_last, _, h_last = boxes[-1]
        ax.plot([b, b], [y_last - h_last / 2, y_join], color='#555', linewidth=1.2, zorder=2)
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
    box(s, -20.6, f'logits: {V} scores,\none per possible next token', w=4.2, h=1.0, fill='white', edge='#555')
    arrow((s, -18.7), (s, -20.1))
    fig.tight_layout()
    return fig
