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
import types

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


T = ['train', '--data', 'elements.txt', '--out', 'new.json']          # a train command, before its options
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
    'log is the checkpoint': (T + ['--log', 'new.json'], 2, 'input'),
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
    assert last.startswith('microgpt: interrupted by SIGINT: saved step ')
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
    with runs.Signals() as ctrl_c:
        ctrl_c.training = True
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
    # a new run (without --resume) replaces the log only when told to, and then starts it afresh
    ok(microgpt('train', '--data', ELEMENTS, '--out', run, '--steps', 3, *TINY, '--log', log, '--force'))
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


# ---------------------------------------------------------------- issue 13: files, signals, limits

def refused(done, status, words):
    """done ended with status and exactly one line on standard error containing words."""
    assert done.returncode == status, (done.returncode, done.stderr)
    assert len(done.stderr.splitlines()) == 1 and 'Traceback' not in done.stderr, done.stderr
    assert words in done.stderr, done.stderr


def no_temporaries(folder):
    return [p.name for p in folder.iterdir() if p.name.endswith(('.tmp', '.lock'))]


@pytest.mark.parametrize('link', ['hard', 'symbolic'])
def test_a_link_to_the_data_is_the_data(work, link):
    make = os.link if link == 'hard' else os.symlink
    make(work / 'elements.txt', work / 'linked.jsonl')
    before = snapshot(work)
    refused(microgpt(*T, '--log', 'linked.jsonl', cwd=work), 2, 'input')
    refused(microgpt('train', '--data', 'elements.txt', '--out', 'linked.jsonl', cwd=work), 2, 'input')
    assert snapshot(work) == before


def test_a_new_run_never_replaces_a_file_without_force(work):
    before = snapshot(work)
    refused(microgpt('train', '--data', 'elements.txt', '--out', 'prior.json', *TINY, '--steps', 2, cwd=work),
            2, '--force')
    (work / 'old.jsonl').write_text('keep me\n')
    refused(microgpt(*T, '--log', 'old.jsonl', *TINY, '--steps', 2, cwd=work), 2, '--force')
    assert (work / 'old.jsonl').read_text() == 'keep me\n'
    (work / 'old.jsonl').unlink()
    os.chmod(work / 'prior.json', 0o444)
    for extra in [['--force'], ['--resume', 'prior.json']]:
        refused(microgpt('train', '--data', 'elements.txt', '--out', 'prior.json', *extra, cwd=work), 1, 'read-only')
    assert snapshot(work) == before
    os.chmod(work / 'prior.json', 0o644)
    ok(microgpt('train', '--data', 'elements.txt', '--out', 'prior.json', *TINY, '--steps', 2, '--force', cwd=work))
    assert load_checkpoint(work / 'prior.json').num_steps == 2


def test_saved_files_get_the_usual_mode_and_keep_an_old_one(tmp_path):
    run = tmp_path / 'run.json'
    ok(microgpt('train', '--data', ELEMENTS, '--out', run, *TINY, '--steps', 2, '--stop-after', 1,
                preexec_fn=lambda: os.umask(0o022)))
    assert run.stat().st_mode & 0o777 == 0o644
    os.chmod(run, 0o640)
    ok(microgpt('train', '--data', ELEMENTS, '--out', run, '--resume', run))
    assert run.stat().st_mode & 0o777 == 0o640 and no_temporaries(tmp_path) == []


@pytest.mark.parametrize('signum', [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_save_like_ctrl_c(tmp_path, signum):
    run, log = tmp_path / 'run.json', tmp_path / 'run.jsonl'
    args = ['train', '--data', ELEMENTS, '--out', run, '--steps', 1_000_000, *TINY, '--log', log]
    process = subprocess.Popen([sys.executable, '-m', 'microgpt', *map(str, args)], cwd=tmp_path,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline and (
            not log.exists() or not log.read_text()):
        time.sleep(0.005)
    process.send_signal(signum)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signum, err
    assert 'Traceback' not in err and f'interrupted by {signal.Signals(signum).name}: saved step' in err
    ckpt = load_checkpoint(run)
    assert ckpt.step == len(log.read_text().splitlines()) >= 1
    assert no_temporaries(tmp_path) == []


def test_stale_temporaries_of_a_killed_save_are_removed(tmp_path):
    run = tmp_path / 'run.json'
    dead = subprocess.Popen(['true'])
    dead.wait()
    stale, alive, other = (tmp_path / f'.run.json.{dead.pid}.tmp', tmp_path / f'.run.json.{os.getppid()}.tmp',
                           tmp_path / f'.other.json.{dead.pid}.tmp')
    for p in (stale, alive, other):
        p.write_text('{"half a checkpoint')
    ok(microgpt('train', '--data', ELEMENTS, '--out', run, *TINY, '--steps', 2))
    assert not stale.exists() and alive.exists() and other.exists()  # only a gone writer's, of this file


def test_a_second_writer_to_the_same_output_is_refused(tmp_path):
    run, log = tmp_path / 'run.json', tmp_path / 'run.jsonl'
    first = subprocess.Popen([sys.executable, '-m', 'microgpt', 'train', '--data', str(ELEMENTS), '--out', str(run),
                              '--steps', '1000000', *TINY, '--log', str(log)], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not log.exists() or not log.read_text()):
            time.sleep(0.005)
        refused(microgpt('train', '--data', ELEMENTS, '--out', run, '--steps', 2, *TINY, '--force'), 1, 'another')
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=120)
    assert first.returncode == 143 and no_temporaries(tmp_path) == []


def test_resume_on_reordered_or_edited_documents_is_refused(tmp_path):
    data, run = tmp_path / 'data.txt', tmp_path / 'run.json'
    names = ELEMENTS.read_text().split()
    data.write_text('\n'.join(names) + '\n')
    ok(microgpt('train', '--data', data, '--out', run, *TINY, '--steps', 10, '--stop-after', 2))
    for changed in [names[1::-1] + names[2:], [names[0] + 'a'] + names[1:]]:
        data.write_text('\n'.join(changed) + '\n')
        before = run.read_bytes()
        refused(microgpt('train', '--data', data, '--out', run, '--resume', run), 1, 'other documents')
        assert run.read_bytes() == before


def test_an_old_checkpoint_version_is_refused(work):
    old = json.loads((work / 'prior.json').read_text())
    old['version'] = 1
    (work / 'v1.json').write_text(json.dumps(old))
    refused(microgpt('sample', '--model', 'v1.json', cwd=work), 1, 'old checkpoint format version 1')


def test_resume_after_a_kill_drops_the_logged_steps_past_the_checkpoint(tmp_path):
    run, log = tmp_path / 'run.json', tmp_path / 'run.jsonl'
    ok(microgpt('train', '--data', ELEMENTS, '--out', run, *TINY, '--steps', 12, '--stop-after', 4, '--log', log))
    lines = log.read_text().splitlines()
    more = [json.dumps({**json.loads(lines[-1]), 'step': s}) for s in (5, 6)]
    log.write_text('\n'.join(lines + more) + '\n{"step": 7, "lo')  # as a run killed in step 7 leaves it
    ok(microgpt('train', '--data', ELEMENTS, '--out', run, '--resume', run, '--log', log))
    one_go, one_log = tmp_path / 'one.json', tmp_path / 'one.jsonl'
    ok(microgpt('train', '--data', ELEMENTS, '--out', one_go, *TINY, '--steps', 12, '--log', one_log))
    assert run.read_bytes() == one_go.read_bytes()
    assert losses(log) == losses(one_log) and [json.loads(x)['step'] for x in log.read_text().splitlines()] == list(
        range(1, 13))


DATA = {
    'a byte order mark is dropped': ('\ufeffHydrogen\nHelium\n'.encode(), None),
    'UTF-16': ('Hydrogen\nHelium\n'.encode('utf-16'), 'UTF-8'),
    'UTF-16 without a mark': ('Hydrogen\nHelium\n'.encode('utf-16-le'), 'line 1'),
    'NUL bytes': (b'\0' * 64, 'control character'),
    'NUL on line 3': (b'Hydrogen\nHelium\nLi\0thium\n', 'line 3'),
}


@pytest.mark.parametrize('case', DATA)
def test_data_that_is_not_lines_of_text(tmp_path, case):
    raw, words = DATA[case]
    (tmp_path / 'data.txt').write_bytes(raw)
    done = microgpt('train', '--data', 'data.txt', '--out', 'run.json', *TINY, '--steps', 2, cwd=tmp_path)
    if words is None:
        ok(done)
        assert '\ufeff' not in load_checkpoint(tmp_path / 'run.json').tokenizer.chars
    else:
        refused(done, 1, words)
        assert sorted(p.name for p in tmp_path.iterdir()) == ['data.txt']


def test_negative_seeds_are_refused(work):
    refused(microgpt(*T, '--seed', '-5', cwd=work), 2, '>= 0')
    refused(microgpt('sample', '--model', 'prior.json', '--seed', '-5', cwd=work), 2, '>= 0')


def edited(work, change):
    """prior.json with change(run) applied and its checksum recomputed, as edited.json."""
    from microgpt.checkpoint import _digest
    saved = json.loads((work / 'prior.json').read_text())
    change(saved['run'])
    saved['sha256'] = _digest(saved['run'])
    (work / 'edited.json').write_text(json.dumps(saved))
    return 'edited.json'


EDITS = {
    'a huge model': (lambda r: r['config'].update(n_embd=10 ** 6, n_head=1, n_layer=10 ** 6), 'memory'),
    'n_head not dividing n_embd': (lambda r: r['config'].update(n_head=3), 'divisible'),
    'weights of another shape': (lambda r: r['weights']['wte'].pop(), 'matrix'),
    'negative second moment': (lambda r: r['adam']['v']['wte'][0].__setitem__(0, -1.0), 'adam v'),
    'negative random state': (lambda r: r['rng'][1].__setitem__(0, -1), 'random stream'),
    'random state index too large': (lambda r: r['rng'][1].__setitem__(624, 10 ** 6), 'random stream'),
    'random state of another version': (lambda r: r['rng'].__setitem__(0, 2), 'random stream'),
    'gauss_next not a number': (lambda r: r['rng'].__setitem__(2, 'x'), 'random stream'),
    'beta2 of 1': (lambda r: r['adam'].update(beta2=1.0), 'beta2'),
    'a fingerprint that is not one': (lambda r: r.update(data_sha256='xyz'), 'fingerprint'),
}


@pytest.mark.parametrize('case', EDITS)
def test_an_edited_and_rehashed_checkpoint_is_checked_before_building(work, case):
    change, words = EDITS[case]
    refused(microgpt('info', '--model', edited(work, change), cwd=work, timeout=60), 1, words)


def test_deeply_nested_json_is_one_line(work):
    (work / 'nested.json').write_text('[' * 100_000 + ']' * 100_000)
    refused(microgpt('info', '--model', 'nested.json', cwd=work), 1, 'checkpoint')
    (work / 'digits.json').write_text('{"format": 1' + '0' * 5000 + '}')
    refused(microgpt('info', '--model', 'digits.json', cwd=work), 1, 'checkpoint')


def test_sizes_beyond_memory_are_refused_up_front(work):
    refused(microgpt(*T, '--n-embd', 100_000, '--n-layer', 10_000, '--n-head', 1, cwd=work, timeout=30), 2,
            'memory')
    with open(work / 'huge.txt', 'wb') as f:
        f.truncate(1 << 40)  # a sparse file: a terabyte that takes no room on disk
    refused(microgpt('train', '--data', 'huge.txt', '--out', 'x.json', cwd=work, timeout=30), 1, 'memory')


def test_stdout_full_or_closed_is_one_line(trained):
    with open('/dev/full', 'w') as full:
        done = subprocess.run([sys.executable, '-m', 'microgpt', 'sample', '--model', str(trained)],
                              stdout=full, stderr=subprocess.PIPE, text=True, timeout=60)
    refused(done, 1, 'No space left')
    done = subprocess.run(f'{shlex.quote(sys.executable)} -m microgpt info --model {shlex.quote(str(trained))} >&-',
                          shell=True, stderr=subprocess.PIPE, text=True, timeout=60)
    refused(done, 1, 'standard output is closed')


@pytest.fixture
def tiny_disk(tmp_path):
    """A folder on a file system of 64 kB (a tmpfs), or skip where mounting is not allowed."""
    disk = tmp_path / 'disk'
    disk.mkdir()
    if os.geteuid() != 0 or subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', str(disk)],
                                           capture_output=True).returncode:
        pytest.skip('cannot mount a small tmpfs here (test_full_disk_in_process simulates it)')
    yield disk
    subprocess.run(['umount', str(disk)])


def test_log_on_a_full_disk_is_one_line(tmp_path, tiny_disk):
    done = microgpt('train', '--data', ELEMENTS, '--out', tmp_path / 'run.json', '--log', tiny_disk / 'log.jsonl',
                    '--steps', 100_000, *TINY, '--save-every', 50, timeout=120)
    assert done.returncode == 1 and 'Traceback' not in done.stderr
    assert done.stderr.splitlines()[-1] == f'microgpt: error: cannot write the log {tiny_disk / "log.jsonl"}: ' \
                                           'No space left on device'


def test_checkpoint_on_a_full_disk_is_one_line_and_leaves_nothing(tiny_disk):
    done = microgpt('train', '--data', ELEMENTS, '--out', tiny_disk / 'run.json', '--steps', 1, '--n-embd', 64,
                    '--n-head', 1, timeout=120)
    assert done.returncode == 1 and 'Traceback' not in done.stderr
    assert 'No space left on device' in done.stderr.splitlines()[-1]
    assert os.listdir(tiny_disk) == []


def test_full_disk_in_process(tmp_path, monkeypatch):
    """Where no tmpfs can be mounted: the log's write fails as on a full disk."""
    from microgpt import progress

    def full(fd, data):
        raise OSError(28, 'No space left on device')
    monkeypatch.setattr(progress, 'os', types.SimpleNamespace(**{**vars(os), 'write': full}))
    status = cli.main(['train', '--data', str(ELEMENTS), '--out', str(tmp_path / 'run.json'),
                       '--log', str(tmp_path / 'log.jsonl'), '--steps', '3', *TINY])
    assert status == 1 and not (tmp_path / 'run.json').exists() and no_temporaries(tmp_path) == []


def test_ctrl_c_during_start_up_is_one_line_and_writes_nothing(tmp_path):
    (tmp_path / 'big.txt').write_text('abcdefgh\n' * 3_000_000)  # a few seconds to read and check
    for delay in (0.3, 0.8):
        process = subprocess.Popen([sys.executable, '-m', 'microgpt', 'train', '--data', 'big.txt', '--out', 'run.json',
                                    '--log', 'run.jsonl'], cwd=tmp_path, stderr=subprocess.PIPE, text=True,
                                   preexec_fn=default_sigint)
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
        assert process.returncode == 130 and err == 'microgpt: interrupted\n', (process.returncode, err)
        assert sorted(p.name for p in tmp_path.iterdir()) == ['big.txt']
