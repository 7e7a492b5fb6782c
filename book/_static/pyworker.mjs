// The page's Python session: Pyodide in a module Web Worker, so that a long run (training)
// never blocks the page. Pyodide refuses classic workers, hence the .mjs and {type: 'module'}.
//
// Messages in:  {type: 'boot', base}            base: the URL of the book's _static/
//               {type: 'run', id, source}       run source as a notebook cell
// Messages out: {type: 'status', text}          while booting
//               {type: 'ready', seconds}
//               {type: 'out', id, stream, text} output as it is printed (for live curves)
//               {type: 'done', id, stdout, stderr, error}
//               {type: 'failed', text}          Python could not start

const HOME = '/home/pyodide/book';
let pyodide = null;
let runner = null;
let job = null;  // the run whose output is being collected: {id, stdout, stderr}

// Python's stdout and stderr, as raw bytes: decoded as a stream, so a character split
// across two writes stays whole, and passed on unchanged (byte-identical output).
function sink(stream) {
  const decoder = new TextDecoder();
  return {
    write(bytes) {
      const text = decoder.decode(bytes, {stream: true});
      if (job && text) {
        job[stream] += text;
        postMessage({type: 'out', id: job.id, stream, text});
      }
      return bytes.length;
    },
  };
}

async function boot(base) {
  const started = performance.now();
  postMessage({type: 'status', text: 'Loading Python (a 14 MB download the first time)…'});
  const {loadPyodide} = await import(base + 'pyodide/pyodide.mjs');
  pyodide = await loadPyodide({
    indexURL: base + 'pyodide/',
    env: {HOME: '/home/pyodide', MICROGPT_DATA: HOME + '/names.txt'},
  });
  pyodide.setStdout(sink('stdout'));
  pyodide.setStderr(sink('stderr'));
  postMessage({type: 'status', text: 'Unpacking the microgpt package and the names…'});
  const [pack, code] = await Promise.all([
    fetch(base + 'pyodide/book.zip').then((r) => r.arrayBuffer()),
    fetch(base + 'pyrunner.py').then((r) => r.text()),
  ]);
  pyodide.unpackArchive(new Uint8Array(pack), 'zip', {extractDir: HOME});  // wants a Uint8Array
  pyodide.FS.chdir(HOME);
  pyodide.FS.writeFile(HOME + '/pyrunner.py', code);
  pyodide.runPython(`
import os, sys
sys.path.insert(0, ${JSON.stringify(HOME)})
os.makedirs('book', exist_ok=True)
os.chdir('book')  # where the build runs the chapters: they read ../_build/reference-run.json
import pyrunner
pyrunner.install_stubs()
`);
  // one namespace for the page's cells, like the build's kernel
  const session = pyodide.runPython("{'__name__': '__main__'}");
  const run = pyodide.globals.get('pyrunner').run_cell;
  runner = (source) => run(source, session);
  postMessage({type: 'ready', seconds: (performance.now() - started) / 1000});
}

let booted = null;
onmessage = async (event) => {
  const msg = event.data;
  if (msg.type === 'boot') {
    booted = boot(msg.base).catch((error) => postMessage({type: 'failed', text: String(error)}));
    return;
  }
  await booted;
  if (!runner) return;
  job = {id: msg.id, stdout: '', stderr: ''};
  let error = null;
  try {
    error = runner(msg.source) ?? null;
  } catch (e) {  // an error of Pyodide itself, not of the cell
    error = String(e);
  }
  postMessage({type: 'done', id: job.id, stdout: job.stdout, stderr: job.stderr, error});
  job = null;
};
