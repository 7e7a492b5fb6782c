"""Run a cell as a notebook does, in the reader's browser (loaded by pyworker.mjs).

Not part of the package: the glue between the page and the Python session. A cell runs
every statement, and the value of a last bare expression is shown with repr(), unless
it is None, as in Jupyter. An exception prints its traceback (without this file's
frames) to stderr, and the session goes on.

>>> session = {}
>>> run_cell('x = 6\\nx * 7', session)
42
>>> run_cell('x = 1\\n1 / 0', session)  # the traceback goes to stderr
'ZeroDivisionError: division by zero'
>>> session['x']
1
"""
import ast
import linecache
import sys
import traceback
import types

count = 0


def run_cell(source, session):
    """Run source in the dict session; print the last expression's repr. Returns None,
    or the last line of the traceback if the cell raised."""
    global count
    count += 1
    name = f'<cell {count}>'
    linecache.cache[name] = (len(source), None, source.splitlines(True), name)  # for tracebacks
    try:
        tree = ast.parse(source, name)
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        exec(compile(tree, name, 'exec'), session)
        if last is not None:
            value = eval(compile(ast.Expression(last.value), name, 'eval'), session)
            if value is not None:
                print(repr(value))
    except BaseException as error:  # SystemExit and KeyboardInterrupt too: the session goes on
        tb = error.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
            tb = tb.tb_next  # leave out the runner's own frames
        lines = traceback.format_exception(type(error), error, tb)
        sys.stdout.flush()
        sys.stderr.write(''.join(lines))
        sys.stderr.flush()
        return lines[-1].strip()
    finally:
        sys.stdout.flush()


def install_stubs():
    """Modules the chapters import for the build only. glue() records a number for the
    prose; in the browser it prints what it would glue. display() prints the text of
    Markdown, HTML and SVG, which the page cannot render as the build does."""
    glued = types.ModuleType('myst_nb')

    def glue(name, value, display=True):
        print(f'glue {name!r}: {value!r}')

    glued.glue = glue
    shown = types.ModuleType('IPython.display')

    class Text:
        def __init__(self, data):
            self.data = data

        def __repr__(self):
            return self.data

    def display(*objects, **kwargs):
        for obj in objects:
            print(repr(obj))

    shown.Markdown = shown.HTML = shown.SVG = Text  # shown as their text
    shown.display = display
    ipython = types.ModuleType('IPython')
    ipython.display = shown
    sys.modules.update({'myst_nb': glued, 'IPython': ipython, 'IPython.display': shown})
    # no figures in the browser: importing these works (cells that only import them run),
    # using them says why it cannot
    plot = Missing('matplotlib')
    plot.pyplot = Missing('matplotlib.pyplot')
    sys.modules.update({'matplotlib': plot, 'matplotlib.pyplot': plot.pyplot, 'numpy': Missing('numpy'),
                        'drawing': Missing('drawing')})  # the book's figure helpers (book/_ext)


class Missing(types.ModuleType):
    """A module the browser's Python lacks: any use of it raises a one-line reason."""

    def __getattr__(self, name):
        if name.startswith('__'):
            raise AttributeError(name)
        raise ModuleNotFoundError(f'{self.__name__}.{name}: {self.__name__} is not available in the '
                                  'browser; the book\'s figures are drawn by the build')


trained = {}  # the model and tokenizer of the training panel's last run


def train(argv):
    """`python -m microgpt` with these arguments (the reference run, exactly as the command
    line prints it), keeping the trained model for explorer_data()."""
    import microgpt.cli as cli
    original = cli.run

    def keeping(docs, *args, trainer, **kwargs):
        def trainer_keeping(model, tokenizer, *rest, **more):
            trained.update(model=model, tokenizer=tokenizer)
            return trainer(model, tokenizer, *rest, **more)
        return original(docs, *args, trainer=trainer_keeping, **kwargs)

    cli.run = keeping
    try:
        return cli.main(argv)
    finally:
        cli.run = original


def explorer_data():
    """The last trained model in the format of the explorer widget (widgets.js), as JSON."""
    import json
    model, tok = trained['model'], trained['tokenizer']
    return json.dumps({
        'config': {f: getattr(model.config, f) for f in ('vocab_size', 'n_embd', 'n_head', 'n_layer', 'block_size')},
        'chars': tok.chars, 'BOS': tok.BOS, 'example': '',
        'weights': {name: [[p.data for p in row] for row in w] for name, w in model.state.items()},
    }, separators=(',', ':'))
