"""The command line of microgpt/cli.py, run as a user runs it: python -m microgpt COMMAND ...

Bad input ends in one line on standard error, the right exit status and no changed file;
a stopped and resumed run (with --stop-after, or Ctrl-C) is bit for bit the run done in one go,
for every engine; the log, the prefix, info, progress, bench, and the reference run."""
import json
import os
import pty
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from conftest import ROOT, reference_losses, weights
from microgpt import cli, runs
from microgpt.adam import Adam
from microgpt.engines import ENGINES
from microgpt.model import GPT, Config
from microgpt.sample import sample
from microgpt.tokenizer import Tokenizer
from microgpt.checkpoint import VERSION, Checkpoint, load_checkpoint

ELEMENTS = ROOT / 'data' / 'elements.txt'
SMALL = ['--n-embd', '8', '--n-head', '2', '--block-size', '8']        # fast to train
TINY = ['--n-embd', '4', '--n-head', '1', '--block-size', '4']         # fast even for the scalar engine


def default_sigint():
    # a child of a process that ignores Ctrl-C would ignore it too; these tests press it
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def microgpt(*args, cwd=None, timeout=300, **kwargs):
    """Run python -m microgpt with args; the CompletedProcess (text)."""
    return subprocess.run([sys.executable, '-m', 'microgpt', *map(str, args)], cwd=cwd or ROOT,
                          capture_output=True, text=True, timeout=timeout, **kwargs)


def ok(done):
    assert done.returncode == 0 and 'Traceback' not in done.stderr, done.stderr
    return done


def snapshot(folder):
    """Every file under folder, with its bytes."""
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob('*')) if p.is_file()}


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """A small checkpoint trained on the elements: 12 of 20 steps."""
    folder = tmp_path_factory.mktemp('trained')
    path = folder / 'run.json'
    ok(microgpt('train', '--data', ELEMENTS, '--out', path, '--steps', 20, '--stop-after', 12, *SMALL))
    return path


@pytest.fixture
def work(tmp_path, trained):
    """A folder with the data, a prior checkpoint (prior.json) and damaged copies of it."""
    shutil.copy(ELEMENTS, tmp_path / 'elements.txt')
    shutil.copy(trained, tmp_path / 'prior.json')
    text = trained.read_text()
    (tmp_path / 'truncated.json').write_text(text[:len(text) // 2])
    i = text.index('"weights"') + 50
    while not text[i].isdigit():
        i += 1
    (tmp_path / 'corrupted.json').write_text(text[:i] + ('1' if text[i] != '1' else '2') + text[i + 1:])
    future = json.loads(text)
    future['version'] = VERSION + 1
    (tmp_path / 'future.json').write_text(json.dumps(future))
    (tmp_path / 'empty.txt').write_text('')
    (tmp_path / 'blank.txt').write_text('\n   \n\t\n')
    (tmp_path / 'latin1.txt').write_bytes('Hydrogen\nHélium\n'.encode('latin-1'))
    (tmp_path / 'other.txt').write_text('alpha\nbeta\ngamma\n')
    (tmp_path / 'folder').mkdir()
    return tmp_path


T = ['train', '--data', 'elements.txt', '--out', 'prior.json']        # a train command, before its options
R = ['train', '--data', 'elements.txt', '--out', 'prior.json', '--resume']

BAD = {
    # data files
    'missing data file': (['train', '--data', 'nothing.txt', '--out', 'prior.json'], 1, 'no data file'),
    'empty data file': (['train', '--data', 'empty.txt', '--out', 'prior.json'], 1, 'no documents'),
    'only blank lines': (['train', '--data', 'blank.txt', '--out', 'prior.json'], 1, 'no documents'),
    'not UTF-8': (['train', '--data', 'latin1.txt', '--out', 'prior.json'], 1, 'not UTF-8'),
    'data is a folder': (['train', '--data', 'folder', '--out', 'prior.json'], 1, 'no data file'),
    # settings
    'zero steps': (T + ['--steps', '0'], 2, '--steps'),
    'negative steps': (T + ['--steps', '-5'], 2, '--steps'),
    'steps not a number': (T + ['--steps', 'many'], 2, '--steps'),
    'n_embd not divisible by n_head': (T + ['--n-embd', '10', '--n-head', '4'], 2, 'divisible'),
    'block size 0': (T + ['--block-size', '0'], 2, '--block-size'),
    'n_head 0': (T + ['--n-head', '0'], 2, '--n-head'),
    'learning rate 0': (T + ['--lr', '0'], 2, '--lr'),
    'learning rate nan': (T + ['--lr', 'nan'], 2, '--lr'),
    'save every 0': (T + ['--save-every', '0'], 2, '--save-every'),
    'stop after the end': (T + ['--steps', '10', '--stop-after', '11'], 2, '--stop-after'),
    'unknown engine': (T + ['--engine', 'quantum'], 2, '--engine'),
    'unknown option': (T + ['--epochs', '3'], 2, 'unrecognized'),
    'abbreviated option': (T + ['--step', '3'], 2, 'unrecognized'),
    'no --out': (['train', '--data', 'elements.txt'], 2, '--out'),
    # output paths, checked before training starts
    'out in a missing folder': (['train', '--data', 'elements.txt', '--out', 'no/such/run.json'], 1, 'no folder'),
    'out is a folder': (['train', '--data', 'elements.txt', '--out', 'folder'], 1, 'is a folder'),
    'out is the data': (['train', '--data', 'elements.txt', '--out', 'elements.txt'], 2, 'input'),
    'log in a missing folder': (T + ['--log', 'no/such/log.jsonl'], 1, 'no folder'),
    'log is the checkpoint': (T + ['--log', 'prior.json'], 2, 'input'),
    # checkpoints to resume from
    'resume missing': (R + ['nothing.json'], 1, 'no checkpoint'),
    'resume truncated': (R + ['truncated.json'], 1, 'truncated'),
    'resume corrupted': (R + ['corrupted.json'], 1, 'checksum'),
    'resume other version': (R + ['future.json'], 1, f'version {VERSION + 1}'),
    'resume not a checkpoint': (R + ['elements.txt'], 1, 'checkpoint'),
    'resume with another seed': (R + ['prior.json', '--seed', '7'], 1, '--seed 7'),
    'resume on other data': (['train', '--data', 'other.txt', '--out', 'prior.json', '--resume', 'prior.json'],
                             1, 'vocabulary'),
    'resume with other steps': (R + ['prior.json', '--steps', '30'], 2, '--steps 30'),
    'resume with other sizes': (R + ['prior.json', '--n-embd', '16'], 2, '--n-embd 16'),
    'resume with other lr': (R + ['prior.json', '--lr', '0.1'], 2, '--lr 0.1'),
    'resume, stop already passed': (R + ['prior.json', '--stop-after', '12'], 2, '--stop-after'),
    # sampling
    'sample missing': (['sample', '--model', 'nothing.json'], 1, 'no checkpoint'),
    'sample truncated': (['sample', '--model', 'truncated.json'], 1, 'truncated'),
    'sample corrupted': (['sample', '--model', 'corrupted.json'], 1, 'checksum'),
    'sample other version': (['sample', '--model', 'future.json'], 1, 'version'),
    'sample a folder': (['sample', '--model', 'folder'], 1, 'cannot read'),
    'prefix outside the vocabulary': (['sample', '--model', 'prior.json', '--prefix', 'Hq'], 2, "'q'"),
    'prefix longer than the block': (['sample', '--model', 'prior.json', '--prefix', 'Hydrogenium'], 2, 'too long'),
    'prefix as long as the block': (['sample', '--model', 'prior.json', '--prefix', 'Hydrogen'], 2, 'at most 7'),
    'temperature 0': (['sample', '--model', 'prior.json', '--temperature', '0'], 2, '--temperature'),
    'temperature negative': (['sample', '--model', 'prior.json', '--temperature', '-1'], 2, '--temperature'),
    'temperature nan': (['sample', '--model', 'prior.json', '--temperature', 'nan'], 2, '--temperature'),
    'temperature inf': (['sample', '--model', 'prior.json', '--temperature', 'inf'], 2, '--temperature'),
    'temperature a word': (['sample', '--model', 'prior.json', '--temperature', 'hot'], 2, '--temperature'),
    'temperature too small': (['sample', '--model', 'prior.json', '--temperature', '1e-320'], 2, '--temperature'),
    'zero samples': (['sample', '--model', 'prior.json', '--num', '0'], 2, '--num'),
    'sample without --model': (['sample'], 2, '--model'),
    # info, bench, the reference run
    'info missing': (['info', '--model', 'nothing.json'], 1, 'no checkpoint'),
    'info truncated': (['info', '--model', 'truncated.json'], 1, 'truncated'),
    'bench zero steps': (['bench', '--steps', '0'], 2, '--steps'),
    'bench too many steps': (['bench', '--steps', '1001'], 2, '--steps'),
    'bench unknown engine': (['bench', '--engine', 'quantum'], 2, '--engine'),
    'reference run, stray word': (['trian'], 2, 'unrecognized'),
    'reference run, missing data': (['--data', 'nothing.txt'], 1, 'no data file'),
}


@pytest.mark.parametrize('case', BAD)
def test_bad_input_is_one_line_and_changes_nothing(work, case):
    args, status, words = BAD[case]
    before = snapshot(work)
    done = microgpt(*args, cwd=work)
    assert done.returncode == status, (done.returncode, done.stderr)
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert 'Traceback' not in done.stderr and words in done.stderr, done.stderr
    assert done.stdout == ''
    assert snapshot(work) == before  # the prior checkpoint byte for byte, and no file added


def test_training_that_diverges_saves_nothing(work):
    before = snapshot(work)
    done = microgpt(*T, '--lr', '1e6', '--steps', 30, *SMALL, cwd=work)
    assert done.returncode == 1 and 'Traceback' not in done.stderr
    assert 'diverged' in done.stderr.splitlines()[-1] and '--lr' in done.stderr.splitlines()[-1]
    assert snapshot(work) == before


# ---------------------------------------------------------------- continuing a run exactly

def train_in_one_go(folder, steps, sizes, engine='fast', log=True):
    out = folder / 'one-go.json'
    extra = ['--log', folder / 'one-go.jsonl'] if log else []
    ok(microgpt('train', '--data', ELEMENTS, '--out', out, '--steps', steps, *sizes, '--engine', engine, *extra))
    return out


def samples(path, *args):
    return ok(microgpt('sample', '--model', path, *args)).stdout


def losses(log):
    return [json.loads(line)['loss'] for line in log.read_text().splitlines()]


def test_stop_and_resume_is_bit_identical_fast(tmp_path):
    one_go = train_in_one_go(tmp_path, 20, SMALL)
    split, log = tmp_path / 'split.json', tmp_path / 'split.jsonl'
    first = ok(microgpt('train', '--data', ELEMENTS, '--out', split, '--steps', 20, *SMALL, '--log', log,
                        '--stop-after', 10))
    assert load_checkpoint(split).step == 10
    hint = first.stderr.splitlines()[-1]
    assert 'saved step 10 of 20' in hint and '--resume' in hint and '--stop-after' not in hint
    # the printed command, as it is: it continues the run to its end
    command = shlex.split(hint.split('to continue: ')[1])
    assert command[:3] == [sys.executable, '-m', 'microgpt']
    ok(subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300))
    assert split.read_bytes() == one_go.read_bytes()  # weights, Adam, random stream, step, loss
    assert losses(log) == losses(tmp_path / 'one-go.jsonl')
    assert samples(split) == samples(one_go)
    assert samples(split, '--seed', 3, '--prefix', 'Ne') == samples(one_go, '--seed', 3, '--prefix', 'Ne')


def test_stop_and_resume_is_bit_identical_scalar_and_across_engines(tmp_path):
    one_go = train_in_one_go(tmp_path, 6, TINY, engine='scalar', log=False)
    (tmp_path / 'fast').mkdir()
    assert one_go.read_bytes() == train_in_one_go(tmp_path / 'fast', 6, TINY, log=False).read_bytes()
    for first, then in [('scalar', 'scalar'), ('scalar', 'fused'), ('fast', 'scalar')]:
        split = tmp_path / f'{first}-{then}.json'
        common = ['train', '--data', ELEMENTS, '--out', split]
        ok(microgpt(*common, '--steps', 6, *TINY, '--engine', first, '--stop-after', 3))
        ok(microgpt(*common, '--resume', split, '--engine', then))
        assert split.read_bytes() == one_go.read_bytes(), (first, then)
        assert samples(split, '--engine', then) == samples(one_go, '--engine', first)


def test_resume_in_several_pieces_with_save_every(tmp_path):
    one_go = train_in_one_go(tmp_path, 20, SMALL)
    run, log = tmp_path / 'pieces.json', tmp_path / 'pieces.jsonl'
    common = ['train', '--data', ELEMENTS, '--out', run, '--log', log, '--save-every', 3]
    ok(microgpt(*common, '--steps', 20, *SMALL, '--stop-after', 4))
    ok(microgpt(*common, '--resume', run, '--stop-after', 11, '--steps', 20))  # --steps may repeat the run's
    ok(microgpt(*common, '--resume', run))
    assert run.read_bytes() == one_go.read_bytes()
    assert [json.loads(line)['step'] for line in log.read_text().splitlines()] == list(range(1, 21))
    assert losses(log) == losses(tmp_path / 'one-go.jsonl')


def test_resuming_a_complete_run_trains_nothing_and_saves_a_copy(tmp_path):
    one_go = train_in_one_go(tmp_path, 5, TINY, log=False)
    copy = tmp_path / 'copy.json'
    done = ok(microgpt('train', '--data', ELEMENTS, '--out', copy, '--resume', one_go))
    assert copy.read_bytes() == one_go.read_bytes()
    assert 'saved step 5 of 5' in done.stderr and 'to continue' not in done.stderr


def test_resume_keeps_the_seed_of_the_run(tmp_path):
    one_go = tmp_path / 'seed7.json'
    ok(microgpt('train', '--data', ELEMENTS, '--out', one_go, '--steps', 8, *TINY, '--seed', 7))
    split = tmp_path / 'split.json'
    done = ok(microgpt('train', '--data', ELEMENTS, '--out', split, '--steps', 8, *TINY, '--seed', 7,
                       '--stop-after', 4))
    assert '--seed 7' in done.stderr.splitlines()[-1]
    ok(microgpt('train', '--data', ELEMENTS, '--out', split, '--resume', split, '--seed', 7))
    assert split.read_bytes() == one_go.read_bytes()


def test_periodic_checkpoints_survive_a_kill(tmp_path):
    run, log = tmp_path / 'run.json', tmp_path / 'run.jsonl'
    process = subprocess.Popen([sys.executable, '-m', 'microgpt', 'train', '--data', str(ELEMENTS), '--out', str(run),
                                '--log', str(log), '--steps', '100000', *TINY, '--save-every', '5'],
                               stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline and (
                not log.exists() or len(log.read_text().splitlines()) < 12):
            time.sleep(0.005)
    finally:
        process.kill()  # no chance to save: what is on disk is what the periodic saves left
        process.wait()
    ckpt = load_checkpoint(run)  # intact, although the process was killed without warning
    logged = len(log.read_text().splitlines())
    assert ckpt.step % 5 == 0 and 10 <= ckpt.step <= logged


# ---------------------------------------------------------------- Ctrl-C

def interrupt(args, log, cwd, lines=1):
    """Start python -m microgpt args, press Ctrl-C once log has lines lines; (status, stderr)."""
    process = subprocess.Popen([sys.executable, '-m', 'microgpt', *map(str, args)], cwd=cwd,
                               stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline and (
            not log.exists() or len(log.read_text().splitlines()) < lines):
        time.sleep(0.005)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    return process.returncode, err


@pytest.mark.parametrize('engine', ['fast', 'scalar'])
def test_ctrl_c_saves_the_last_step_and_says_how_to_continue(tmp_path, engine):
    steps = 1_000_000  # far more than any machine trains before Ctrl-C comes
    run, log = tmp_path / 'run.json', tmp_path / 'run.jsonl'
    args = ['train', '--data', ELEMENTS, '--out', run, '--steps', steps, *TINY, '--log', log, '--engine', engine]
    status, err = interrupt(args, log, tmp_path)
    assert status == 130, err
    assert 'Traceback' not in err
    last = err.splitlines()[-1]
    assert last.startswith('microgpt: interrupted: saved step ')
    ckpt = load_checkpoint(run)  # a complete checkpoint...
    assert 1 <= ckpt.step < steps
    assert ckpt.step == len(log.read_text().splitlines())  # ...of the last step that was done
    assert f'saved step {ckpt.step} of {steps} to {run}' in last
    command = shlex.split(last.split('to continue: ')[1])
    assert command == [sys.executable, '-m', 'microgpt', *map(str, args), '--resume', str(run)]
    # the printed command continues the run: three more steps, exactly as a run that never stopped
    until = ckpt.step + 3
    ok(subprocess.run(command + ['--stop-after', str(until)], cwd=tmp_path, capture_output=True, text=True,
                      timeout=300))
    one_go = tmp_path / 'one-go.json'
    ok(microgpt('train', '--data', ELEMENTS, '--out', one_go, '--steps', steps, *TINY, '--engine', engine,
                '--stop-after', until))
    assert run.read_bytes() == one_go.read_bytes()
    assert len(log.read_text().splitlines()) == until


def press_ctrl_c():
    """Send SIGINT to this process's main thread, which alone runs Python's signal handlers;
    the handler has run when this returns (pthread_kill checks for signals), or raised."""
    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)


def test_ctrl_c_handler_asks_first_and_interrupts_second():
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip('Ctrl-C is not handled by Python in this process')
    if threading.current_thread() is not threading.main_thread():
        pytest.skip('signals are handled by the main thread, and the tests run in another')
    with runs.CtrlC() as ctrl_c:
        press_ctrl_c()
        assert ctrl_c.pressed
        with pytest.raises(KeyboardInterrupt):
            press_ctrl_c()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.parametrize('engine', list(ENGINES))
def test_a_stop_request_ends_training_after_a_complete_step(engine):
    """train_run raises Stop after the step in which Ctrl-C was pressed, with that step complete."""
    docs = ['alpha', 'beta', 'gamma']

    def start():
        tok = Tokenizer(docs)
        model = GPT(Config(vocab_size=tok.vocab_size, n_embd=8, n_head=2, block_size=8), random.Random(1))
        return Checkpoint(model, tok, Adam(model.parameters()), random.Random(2), 0, 10)

    class Pressed:
        pressed = False

    ctrl_c, saves = Pressed(), []
    run = start()

    def on_step(ckpt):
        if ckpt.step == 3:
            ctrl_c.pressed = True  # as if Ctrl-C came during step 3

    with pytest.raises(runs.Stop):
        runs.train_run(run, docs, ENGINES[engine], 10, lambda: saves.append(run.step), on_step=on_step,
                      ctrl_c=ctrl_c)
    stopped = start()
    ENGINES['scalar'].train(stopped.model, stopped.tokenizer, docs, stopped.optimizer, 10, stop=3)
    assert run.step == 3 and saves == []
    assert weights(run.model) == weights(stopped.model)
    assert run.optimizer.m == stopped.optimizer.m and run.optimizer.v == stopped.optimizer.v


# ---------------------------------------------------------------- the log, progress, sampling, info

def test_log_has_one_json_line_per_step(tmp_path):
    run, log = tmp_path / 'run.json', tmp_path / 'run.jsonl'
    ok(microgpt('train', '--data', ELEMENTS, '--out', run, '--steps', 8, *TINY, '--log', log, '--lr', 0.02))
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [set(e) for e in entries] == [{'step', 'loss', 'lr', 'seconds'}] * 8
    assert [e['step'] for e in entries] == list(range(1, 9))
    assert [e['lr'] for e in entries] == [0.02 * (1 - s / 8) for s in range(8)]
    seconds = [e['seconds'] for e in entries]
    assert seconds == sorted(seconds) and seconds[0] >= 0
    assert entries[-1]['loss'] == load_checkpoint(run).loss  # the full float, not a rounded one
    assert all(isinstance(e['loss'], float) and len(repr(e['loss'])) > 8 for e in entries)
    # a new run (without --resume) starts the log afresh
    ok(microgpt('train', '--data', ELEMENTS, '--out', run, '--steps', 3, *TINY, '--log', log))
    assert len(log.read_text().splitlines()) == 3


def test_progress_without_a_terminal_is_plain_lines(tmp_path):
    done = ok(microgpt('train', '--data', ELEMENTS, '--out', tmp_path / 'run.json', '--steps', 25, *TINY))
    lines = done.stderr.splitlines()
    assert '\r' not in done.stderr
    assert lines[0].startswith('microgpt: training ') and 'steps 1 to 25 of 25' in lines[0]
    steps = [int(re.match(r'step +(\d+) / 25 \| loss \d+\.\d{4} \| [\d.]+ steps/s \| \w+ left$', line).group(1))
             for line in lines[1:-1]]
    assert steps == [2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 25]  # every tenth of the run, and the last
    assert lines[-1].startswith(f'microgpt: saved step 25 of 25 to {tmp_path / "run.json"} (loss ')


def test_progress_on_a_terminal_is_one_line_redrawn(tmp_path):
    main, child = pty.openpty()
    process = subprocess.Popen([sys.executable, '-m', 'microgpt', 'train', '--data', str(ELEMENTS),
                                '--out', str(tmp_path / 'run.json'), '--steps', '300', *TINY],
                               stderr=child, stdout=subprocess.DEVNULL, cwd=ROOT)
    os.close(child)
    out = b''
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(main)
    assert process.wait(timeout=120) == 0
    text = out.decode()
    lines = text.replace('\r\n', '\n').split('\n')
    assert lines[0].startswith('microgpt: training ')
    redrawn = lines[1]  # every progress report on one line, each starting with a carriage return
    assert redrawn.startswith('\rstep ') and redrawn.count('\r') >= 1
    assert redrawn.split('\r')[-1].startswith('step 300 / 300 | loss ')
    assert lines[2].startswith('microgpt: saved step 300 of 300')


def test_prefix(trained):
    ckpt = load_checkpoint(trained)
    out = samples(trained, '--prefix', 'Ne', '--num', 30, '--seed', 5).splitlines()
    assert len(out) == 30 and all(s.startswith('Ne') and len(s) <= ckpt.model.config.block_size for s in out)
    assert len(set(out)) > 1
    # the continuation is drawn by the model after reading BOS, N, e: compare with a sampler that does that
    rng, expected = random.Random(5), []
    for _ in range(30):
        stream = cli.PrefixedStream(rng, [ckpt.tokenizer.ids[c] for c in 'Ne'])
        expected.append(sample(ckpt.model, ckpt.tokenizer, stream))
    assert out == expected
    # every engine continues the prefix the same way
    for engine in ENGINES:
        assert samples(trained, '--prefix', 'Ne', '--num', 30, '--seed', 5, '--engine', engine).splitlines() == out


def test_sample_continues_the_saved_stream_or_a_seeded_one(trained):
    ckpt = load_checkpoint(trained)
    expected = [sample(ckpt.model, ckpt.tokenizer, ckpt.rng, 0.8) for _ in range(7)]
    assert samples(trained, '--num', 7, '--temperature', 0.8).splitlines() == expected
    assert samples(trained, '--num', 7, '--temperature', 0.8) == samples(trained, '--num', 7, '--temperature', 0.8)
    rng = random.Random(11)
    assert samples(trained, '--num', 4, '--seed', 11).splitlines() == [
        sample(ckpt.model, ckpt.tokenizer, rng) for _ in range(4)]
    assert samples(trained, '--prefix', '', '--num', 7, '--temperature', 0.8).splitlines() == expected


def test_info(trained):
    ckpt = load_checkpoint(trained)
    out = ok(microgpt('info', '--model', trained)).stdout.splitlines()
    assert out == cli.describe(ckpt)
    text = '\n'.join(out)
    assert 'n_embd 8, n_head 2, n_layer 1, block_size 8' in text
    assert f'parameters:    {len(ckpt.model.parameters()):,}' in text
    assert 'trained:       12 of 20 steps' in text
    assert f'{ckpt.loss:.4f} (step 12)' in text
    assert repr(''.join(ckpt.tokenizer.chars)) in text


def test_help_of_every_command():
    for command in ['', 'train', 'sample', 'info', 'bench']:
        done = ok(microgpt(*command.split(), '--help'))
        assert 'usage: microgpt' in done.stdout and '--' in done.stdout


def test_bench_prints_speed_and_ratio(names_txt):
    done = ok(microgpt('bench', '--steps', 2, '--engine', 'fast', '--data', names_txt))
    lines = done.stdout.splitlines()
    assert lines[0].split() == ['engine', 'steps/s', 'ms/step', 'speed-up', 'losses']
    assert lines[1].split()[0] == 'scalar' and lines[1].split()[3] == '1.0x'
    assert lines[2].split()[0] == 'fast' and lines[2].split()[-1] == 'identical' and lines[2].split()[3].endswith('x')


# ---------------------------------------------------------------- the reference run

def test_reference_run_command_is_the_same_on_every_engine(names_txt):
    outs = {engine: ok(microgpt('--data', names_txt, '--steps', 3, '--engine', engine)).stdout
            for engine in ENGINES}
    assert len(set(outs.values())) == 1
    assert outs['fast'].splitlines()[:3] == ['num docs: 32033', 'vocab size: 27', 'num params: 4192']


def test_train_with_the_defaults_is_the_reference_run(tmp_path, names_txt):
    """With the defaults, train runs the reference run: its schedule, its model, its losses to
    12 decimals. (The slow tests run python -m microgpt to the end; the test below checks that
    train, then sample, is that command.)"""
    out, log = tmp_path / 'ref.json', tmp_path / 'ref.jsonl'
    ok(microgpt('train', '--data', names_txt, '--out', out, '--log', log, '--stop-after', 20))
    ckpt = load_checkpoint(out)
    assert (ckpt.step, ckpt.num_steps, len(ckpt.model.parameters())) == (20, 1000, 4192)
    assert ckpt.model.config == Config(vocab_size=27)
    expected = [e['loss'] for e in reference_losses()]
    assert max(abs(a - b) for a, b in zip(losses(log), expected, strict=True)) < 1e-9


def test_short_train_then_sample_matches_python_m_microgpt(tmp_path, names_txt):
    out = tmp_path / 'short.json'
    ok(microgpt('train', '--data', names_txt, '--out', out, '--steps', 30, '--seed', 3))
    run = ok(microgpt('--data', names_txt, '--steps', 30, '--seed', 3)).stdout.splitlines()
    assert [line[11:] for line in run[-20:]] == samples(out).splitlines()
