"""The exercises at the end of the chapters: every solution runs, and checks its answer.

A solution is a code cell tagged `solution`. It may use names from the earlier
cells of its chapter, so a chapter is executed the way the build executes it:
all its code cells in order, in one fresh namespace, with book/ as the working
directory. A chapter too slow for that (one that trains, say) has a cell tagged
`exercise-setup` at the start of its exercises; then only that cell and the
solutions run.
"""
import contextlib
import io
import os
from pathlib import Path

import pytest
from myst_nb.core.read import read_myst_markdown_notebook

BOOK = Path(__file__).resolve().parent.parent / 'book'
CHAPTERS = sorted(p for p in BOOK.glob('[0-9][0-9]-*.md')
                  if '\n## Exercises\n' in p.read_text(encoding='utf-8'))


def code_cells(path):
    """The code cells of a chapter as (source, tags), in book order."""
    nb = read_myst_markdown_notebook(path.read_text(encoding='utf-8'), path=str(path))
    return [(''.join(cell['source']), set(cell['metadata'].get('tags', [])))
            for cell in nb['cells'] if cell['cell_type'] == 'code']


def cells_to_run(cells):
    """The cells the test executes: all of them, or the setup and the solutions."""
    if any('exercise-setup' in tags for _, tags in cells):
        return [(src, tags) for src, tags in cells if tags & {'exercise-setup', 'solution'}]
    return [(src, tags) for src, tags in cells if 'skip-execution' not in tags]


@contextlib.contextmanager
def in_book():
    """Run with book/ as the working directory and a non-interactive plot backend."""
    old = os.getcwd()
    os.environ.setdefault('MPLBACKEND', 'Agg')
    os.chdir(BOOK)
    try:
        yield
    finally:
        os.chdir(old)


def execute(cells, namespace, name):
    """Run the sources one after another in namespace, silencing their output."""
    ran = 0
    with in_book(), contextlib.redirect_stdout(io.StringIO()):
        for i, (src, tags) in enumerate(cells):
            exec(compile(src, f'<{name} cell {i}>', 'exec'), namespace)
            ran += 'solution' in tags
    return ran


def test_chapters_found():
    """Every main chapter has exercises (the appendix of ablations is not a main chapter)."""
    assert [p.name for p in CHAPTERS] == sorted(
        p.name for p in BOOK.glob('[0-9][0-9]-*.md') if p.name != '20-ablations.md')


@pytest.mark.parametrize('path', CHAPTERS, ids=lambda p: p.stem)
def test_solutions_run(path):
    cells = code_cells(path)
    solutions = [src for src, tags in cells if 'solution' in tags]
    assert len(solutions) >= 3, f'{path.name} has {len(solutions)} exercises'
    for src in solutions:
        assert 'assert ' in src, 'every solution checks its answer'
    # IPython-only syntax would not run outside a kernel
    for src, _ in cells:
        assert not any(line.lstrip().startswith(('%', '!')) for line in src.splitlines())
    ran = execute(cells_to_run(cells), {'__name__': '__main__'}, path.stem)
    assert ran == len(solutions)


def test_broken_solution_fails():
    """The checks have teeth: change a prediction and the solution fails."""
    path = BOOK / '08-adam.md'
    cells = code_cells(path)
    [schedule] = [src for src, tags in cells if 'solution' in tags and 'rates = ' in src]
    broken = schedule.replace('999 / 2', '999 / 3')
    assert broken != schedule
    namespace = {'__name__': '__main__'}
    execute([(schedule, {'solution'})], namespace, 'original')   # the real one passes
    with pytest.raises(AssertionError):
        execute([(broken, {'solution'})], namespace, 'broken')
