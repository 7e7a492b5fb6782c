"""Tangle the book's code cells into the ``microgpt`` package.

A code cell with a ``:tangle: microgpt/NAME.py`` option belongs to that module.
Modules are assembled from their cells in book order (the table of contents,
then cell order), with the cell text unchanged, under a header that names the
chapters they come from.

A class may grow over several cells: a cell whose first line is
``class Value(Value):`` is merged into the ``class Value`` that an earlier
cell of the same module defined. In the notebook that cell runs as written
(the subclass takes over the name); in the package there is one class.

    python book/_ext/tangle.py           write microgpt/ from the book
    python book/_ext/tangle.py --check   exit 1 with a diff if microgpt/ is stale

The same file is the Sphinx extension that writes the package before a build,
shows on every tangled cell the module it lands in, and renders the module map
(the ``{tangle-map}`` directive).
"""
import argparse
import ast
import difflib
import os
import re
import sys
import tempfile
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = 'microgpt'
TOOL = 'book/_ext/tangle.py'
MARK = '# Generated from the book by book/_ext/tangle.py'
GROW = re.compile(r'class (\w+)\(\1\):[ \t]*(#.*)?$')
TANGLE_OPTION = re.compile(r'^\s*:tangle:')


class TangleError(Exception):
    """A chapter asks for something the tangler cannot do; the message is one line."""


def chapters(root=ROOT):
    """The chapter files in reading order: the root document, then its toctree."""
    index = root / 'book' / 'index.md'
    if not index.exists():
        raise TangleError(f'{index}: the book has no root document')
    order, in_toc = [index], False
    for number, line in enumerate(index.read_text(encoding='utf-8').splitlines(), 1):
        text = line.strip()
        if text.startswith('```{toctree}'):
            in_toc = True
        elif in_toc and text.startswith('```'):
            in_toc = False
        elif in_toc and text and not text.startswith(':'):
            name = re.sub(r'^.*<(.+)>$', r'\1', text)  # "Title <doc>" form
            path = root / 'book' / f'{name}.md'
            if not path.exists():
                raise TangleError(f'{rel(index, root)}:{number}: toctree entry {name!r} has no file {rel(path, root)}')
            order.append(path)
    return order


def rel(path, root=ROOT):
    return Path(path).resolve().relative_to(root.resolve()).as_posix()


def cells(path, root=ROOT):
    """The tangled cells of one chapter: (target, code, line of the cell's fence)."""
    from myst_nb.core.read import read_myst_markdown_notebook
    name = rel(path, root)
    text = Path(path).read_text(encoding='utf-8')
    try:
        nb = read_myst_markdown_notebook(text, add_source_map=True, path=str(path))
    except Exception as error:  # the reader's own message, made one line
        raise TangleError(f'{name}: cannot read chapter: {" ".join(str(error).split())}') from None
    found = []
    for cell, line in zip(nb.cells, nb.metadata['source_map']):
        if cell.cell_type == 'code' and 'tangle' in cell.metadata:
            found.append((target(cell.metadata['tangle'], f'{name}:{line}'), cell.source, line))
    # the reader skips cells nested in other blocks; a tangle option there would be lost silently
    seen = {line for _, _, line in found}
    lines = text.splitlines()
    for number, line in enumerate(lines, 1):
        if TANGLE_OPTION.match(line):
            fence = next((n for n in range(number - 1, 0, -1) if '{code-cell}' in lines[n - 1]), None)
            if fence not in seen:
                raise TangleError(f'{name}:{number}: a :tangle: cell must be a top-level {{code-cell}}, not nested in another block')
    return found


def target(value, where):
    """Check a :tangle: target and return it as a normal relative path."""
    value = str(value).strip()
    path = PurePosixPath(value)
    if path.is_absolute() or '..' in path.parts or path.parts[:1] != (PACKAGE,) or len(path.parts) < 2:
        raise TangleError(f'{where}: tangle target {value!r} is outside {PACKAGE}/')
    if path.suffix != '.py':
        raise TangleError(f'{where}: tangle target {value!r} is not a .py file')
    return path.as_posix()


def tangle(root=ROOT):
    """The package as the book defines it: {relative path: text}."""
    parts, sources = {}, {}
    for chapter in chapters(root):
        for module, code, line in cells(chapter, root):
            sources.setdefault(module, [])
            if rel(chapter, root) not in sources[module]:
                sources[module].append(rel(chapter, root))
            parts[module] = add(parts.get(module, ''), code, f'{rel(chapter, root)}:{line}')
    return {module: header(sources[module]) + text + '\n' for module, text in parts.items()}


def header(chapters):
    return (f'{MARK} from {", ".join(chapters)}.\n'
            f'# Do not edit: change the chapter, then run `python {TOOL}`.\n\n')


def add(module, code, where):
    """Append one cell to a module's text, merging a growing class into its first part."""
    code = code.strip('\n')
    first = code.split('\n', 1)[0]
    grow = GROW.match(first)
    if not grow:
        return f'{module}\n\n\n{code}' if module else code
    name, body = grow.group(1), code.split('\n', 1)[1:]
    try:
        tree = ast.parse(module)
    except SyntaxError as error:
        raise TangleError(f'{where}: the module before this cell does not parse: {error.msg}') from None
    classes = [node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == name]
    if not classes:
        raise TangleError(f'{where}: `{first}` extends class {name}, which no earlier cell of this module defines')
    if not body or not body[0].strip('\n'):
        raise TangleError(f'{where}: `{first}` has an empty body')
    lines = module.split('\n')
    end = classes[-1].end_lineno
    return '\n'.join(lines[:end] + [''] + body[0].strip('\n').split('\n') + lines[end:])


def on_disk(root=ROOT):
    """The .py files under the package directory: {relative path: text}."""
    package = root / PACKAGE
    if not package.is_dir():
        return {}
    return {rel(p, root): p.read_text(encoding='utf-8')
            for p in sorted(package.rglob('*.py')) if '__pycache__' not in p.parts}


def diff(root=ROOT):
    """A unified diff from the package on disk to the package the book defines ('' if none)."""
    want, have = tangle(root), on_disk(root)
    out = []
    for module in sorted(set(want) | set(have)):
        old, new = have.get(module), want.get(module)
        if old == new:
            continue
        note = '' if old is not None and new is not None else (' (missing)' if old is None else ' (orphan: no chapter tangles it)')
        out.append(f'--- {module}{note}\n')
        out.extend(difflib.unified_diff((old or '').splitlines(True), (new or '').splitlines(True),
                                        f'a/{module}', f'b/{module}'))
    return ''.join(line if line.endswith('\n') else line + '\n' for line in out)


def write(root=ROOT):
    """Make the package on disk equal to the book's; return the paths changed."""
    want, have = tangle(root), on_disk(root)
    strays = [m for m in have if m not in want and not have[m].startswith(MARK)]
    if strays:
        raise TangleError(f'{strays[0]} is in the package but no chapter tangles it and it was not generated: '
                          'move its code into a chapter or delete it')
    changed = []
    for module, text in want.items():
        if have.get(module) != text:
            atomic_write(root / module, text)
            changed.append(module)
    for module in have:
        if module not in want:
            (root / module).unlink()
            changed.append(module)
    return changed


def atomic_write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}.', suffix='.tmp')
    try:
        with os.fdopen(fd, 'w', encoding='utf-8', newline='\n') as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main(argv=None):
    parser = argparse.ArgumentParser(prog=f'python {TOOL}', description='Write or check microgpt/ from the book.')
    parser.add_argument('--check', action='store_true', help='only compare; exit 1 with a diff if they differ')
    parser.add_argument('--root', type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        if args.check:
            text = diff(args.root)
            if text:
                sys.stdout.write(text)
                print(f'{PACKAGE}/ differs from the book: run `python {TOOL}` (never edit {PACKAGE}/ by hand)', file=sys.stderr)
                return 1
            print(f'{PACKAGE}/ matches the book', file=sys.stderr)
            return 0
        for module in write(args.root):
            print(f'wrote {module}' if (args.root / module).exists() else f'removed {module}', file=sys.stderr)
        return 0
    except TangleError as error:
        print(f'tangle: {error}', file=sys.stderr)
        return 2


# ---------------------------------------------------------------- Sphinx extension

def _tangled_cells(doctree):
    from docutils import nodes
    for node in doctree.findall(nodes.container):
        if node.get('nb_element') == 'cell_code' and 'tangle' in node.get('cell_metadata', {}):
            yield node, str(node['cell_metadata']['tangle']).strip()


def _section(node):
    from docutils import nodes
    while node is not None and not isinstance(node, nodes.section):
        node = node.parent
    return node


def _anchor(module):
    return 'module-' + re.sub(r'[^a-z0-9]+', '-', module.lower()).strip('-')


def _on_builder_inited(app):
    root = Path(app.confdir)
    try:
        changed = write(root)
    except TangleError as error:
        from sphinx.errors import ExtensionError
        raise ExtensionError(f'tangle: {error}') from None
    from sphinx.util import logging
    for module in changed:
        logging.getLogger(__name__).info(f'tangle: wrote {module}')


def _on_source_read(app, docname, source):
    # a chapter imports what earlier chapters tangled: re-run it when the package changes
    for path in sorted((Path(app.confdir) / PACKAGE).glob('*.py')):
        app.env.note_dependency(str(path))


def _on_doctree_read(app, doctree):
    found = []
    for cell, module in _tangled_cells(doctree):
        section = _section(cell)
        title = section[0].astext() if section is not None else app.env.docname
        ident = section['ids'][0] if section is not None and section['ids'] else ''
        found.append((module, title, ident))
    env = app.env
    if not hasattr(env, 'tangle_cells'):
        env.tangle_cells = {}
    env.tangle_cells[env.docname] = found


def _on_purge(app, env, docname):
    getattr(env, 'tangle_cells', {}).pop(docname, None)


def _on_merge(app, env, docnames, other):
    env.tangle_cells = getattr(env, 'tangle_cells', {})
    env.tangle_cells.update({d: other.tangle_cells[d] for d in docnames if d in getattr(other, 'tangle_cells', {})})


def _map_docs(env):
    return sorted(getattr(env, 'tangle_map_docs', set()))


def _on_env_updated(app, env):
    # the map page lists every chapter's cells: rewrite it whenever any chapter was read again
    return _map_docs(env)


def _on_doctree_resolved(app, doctree, docname):
    from docutils import nodes
    builder, env = app.builder, app.env
    maps = _map_docs(env)
    for cell, module in _tangled_cells(doctree):
        if cell.get('tangle_badge'):
            continue
        cell['tangle_badge'] = True
        uri = builder.get_relative_uri(docname, maps[0]) + '#' + _anchor(module) if maps else ''
        link = nodes.reference('', module, refuri=uri, internal=True) if uri else nodes.literal('', module)
        badge = nodes.paragraph('', '', nodes.inline('', 'tangled into '), link, classes=['tangle-badge'])
        cell.insert(0, badge)
    for node in list(doctree.findall(TangleMap)):
        node.replace_self(_map_table(app, docname))


def _map_table(app, docname):
    from docutils import nodes
    env, builder = app.env, app.builder
    order = [d for d in env.found_docs]
    try:
        order = [rel(p, Path(app.confdir)).removeprefix('book/').removesuffix('.md') for p in chapters(Path(app.confdir))]
    except TangleError:
        order = sorted(order)
    rows = {}
    for doc in order:
        for module, title, ident in getattr(env, 'tangle_cells', {}).get(doc, []):
            places = rows.setdefault(module, [])
            if (doc, ident) not in [(d, i) for d, i, _ in places]:
                places.append((doc, ident, title))
    table = nodes.table(classes=['tangle-map'])
    group = nodes.tgroup(cols=3)
    table += group
    for width in (30, 25, 45):
        group += nodes.colspec(colwidth=width)
    head, body = nodes.thead(), nodes.tbody()
    group += head
    group += body

    def row(*cells):
        r = nodes.row()
        for c in cells:
            entry = nodes.entry()
            entry += c
            r += entry
        return r

    head += row(*(nodes.paragraph('', t) for t in ('Module', 'Chapter', 'Sections that feed it')))
    for module in sorted(rows, key=lambda m: (order.index(rows[m][0][0]) if rows[m][0][0] in order else 0, m)):
        places = rows[module]
        first = nodes.paragraph('', '', nodes.literal('', module), ids=[_anchor(module)])
        chapters_seen, chapter_par, section_par = [], nodes.paragraph(), nodes.paragraph()
        for doc, ident, title in places:
            uri = builder.get_relative_uri(docname, doc)
            if doc not in chapters_seen:
                if chapters_seen:
                    chapter_par += nodes.Text(', ')
                chapters_seen.append(doc)
                chapter_par += nodes.reference('', env.titles[doc].astext(), refuri=uri, internal=True)
            if len(section_par):
                section_par += nodes.Text('; ')
            section_par += nodes.reference('', title, refuri=uri + ('#' + ident if ident else ''), internal=True)
        body += row(first, chapter_par, section_par)
    return table


try:
    from docutils import nodes as _nodes
    from sphinx.util.docutils import SphinxDirective

    class TangleMap(_nodes.General, _nodes.Element):
        """Placeholder replaced by the module map once every chapter has been read."""

    class TangleMapDirective(SphinxDirective):
        def run(self):
            if not hasattr(self.env, 'tangle_map_docs'):
                self.env.tangle_map_docs = set()
            self.env.tangle_map_docs.add(self.env.docname)
            return [TangleMap()]
except ImportError:  # the command line needs neither docutils nor Sphinx
    pass


def setup(app):
    app.add_node(TangleMap)
    app.add_directive('tangle-map', TangleMapDirective)
    app.connect('builder-inited', _on_builder_inited)
    app.connect('source-read', _on_source_read)
    app.connect('doctree-read', _on_doctree_read)
    app.connect('env-purge-doc', _on_purge)
    app.connect('env-merge-info', _on_merge)
    app.connect('env-updated', _on_env_updated)
    app.connect('doctree-resolved', _on_doctree_resolved)
    return {'version': '1', 'parallel_read_safe': True, 'parallel_write_safe': True, 'env_version': 1}


if __name__ == '__main__':
    sys.exit(main())
