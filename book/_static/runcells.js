/* Run the book's own Python in the page: the code cells of Part I become editors with a
 * Run button, the Sampling chapter's panel trains the reference model, and
 * window.microgptBook.run(source) runs any program. Python is Pyodide, shipped with the
 * book (_static/pyodide/), started on the first run in a module Web Worker (pyworker.mjs)
 * so the page stays responsive. All cells of a page share one Python session. */
(function () {
  'use strict';
  var BASE = document.currentScript.src.replace(/runcells\.js(\?.*)?$/, '');
  var FILE = location.protocol === 'file:';
  var SERVE = 'To run the code, serve the book instead of opening the file: ' +
              'python -m http.server -d _build/html, then open http://127.0.0.1:8000/.';
  // what the browser's Python lacks: figures (matplotlib, numpy, the book's drawing helpers) and processes
  var FIGURE = /\bplt\.\w|\bnp\.\w|\bdrawing\.\w/, PROCESSES = /multiprocessing|ProcessPool|subprocess/;
  var MISSING = 'is not available in the browser';  // the error of pyrunner.Missing
  function cannot(source) { return FIGURE.test(source) || PROCESSES.test(source); }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === 'text') node.textContent = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { node.appendChild(c); });
    return node;
  }

  // ------------------------------------------------------------ the Python session

  var worker = null, ready = null, failBoot = null, queue = Promise.resolve(), jobs = {}, nextId = 1;
  var statusNodes = [], stopButtons = [];

  function status(text, busy) {
    statusNodes.forEach(function (n) { n.textContent = text; });
    stopButtons.forEach(function (b) { b.disabled = !busy; });
  }

  function start() {
    if (FILE) return Promise.reject(new Error(SERVE));
    if (ready) return ready;
    worker = new Worker(BASE + 'pyworker.mjs', {type: 'module'});
    ready = new Promise(function (resolve, reject) {
      failBoot = function (text) {  // a failed or stopped boot: the next run tries afresh
        status(text, false);
        if (worker) worker.terminate();
        worker = null; ready = null;
        reject(new Error(text));
      };
      worker.onmessage = function (event) {
        var m = event.data, job = jobs[m.id];
        if (m.type === 'status') status(m.text, true);
        else if (m.type === 'ready') {
          book.bootSeconds = m.seconds;
          status('Python ' + 'is ready (started in ' + m.seconds.toFixed(1) + ' s).', false);
          resolve();
        } else if (m.type === 'failed') failBoot('Python could not start: ' + m.text);
        else if (m.type === 'out' && job && job.onOutput) job.onOutput(m.stream, m.text);
        else if (m.type === 'done' && job) { delete jobs[m.id]; job.resolve({stdout: m.stdout, stderr: m.stderr, error: m.error}); }
      };
      worker.onerror = function (e) { failBoot('Python could not start: ' + e.message); };
    });
    worker.postMessage({type: 'boot', base: BASE});
    return ready;
  }

  // Run source in the session, one run at a time; onOutput(stream, text) sees output as printed.
  function run(source, onOutput, label) {
    var result = queue.then(function () {
      return start().then(function () {
        return new Promise(function (resolve, reject) {
          var id = nextId++;
          jobs[id] = {resolve: resolve, reject: reject, onOutput: onOutput};
          status(label || 'Running…', true);
          worker.postMessage({type: 'run', id: id, source: source});
        });
      }).then(function (r) { status('Python is ready.', false); return r; });
    });
    queue = result.catch(function () {});
    return result;
  }

  // Stop: Python in WebAssembly cannot be interrupted from outside, so end the worker;
  // the next run starts a fresh session.
  function stop() {
    if (!worker) return;
    failBoot('Stopped: the Python session was restarted.');  // if it was still booting
    Object.keys(jobs).forEach(function (id) {
      jobs[id].resolve({stdout: '', stderr: '', error: 'Stopped: the Python session was restarted.'});
      delete jobs[id];
    });
    cellsRun = {};
    status('Stopped. The next Run starts a new Python session.', false);
  }

  var book = {run: function (source) { return run(source); }, stop: stop, bootSeconds: null};
  window.microgptBook = book;

  // the bar at the top of a page that runs code: switch, status, Stop
  function toolbar(article, withSwitch) {
    var bar = el('div', {class: 'mg-runbar'});
    var text = el('span', {class: 'mg-runstatus', role: 'status', 'aria-live': 'polite',
                           text: FILE ? SERVE : 'Python starts in your browser on the first Run.'});
    var halt = el('button', {type: 'button', class: 'mg-button', text: 'Stop', disabled: 'disabled',
                             'aria-label': 'Stop the running code (restarts Python)'});
    halt.addEventListener('click', stop);
    if (withSwitch) {
      var box = el('input', {type: 'checkbox', class: 'mg-switch'});
      if (FILE) box.disabled = true;
      bar.appendChild(el('label', {class: 'mg-switch-label'}, [box, document.createTextNode(' Edit and run the code on this page')]));
      box.addEventListener('change', function () { document.body.classList.toggle('mg-editing', box.checked); });
    }
    bar.appendChild(halt);
    bar.appendChild(text);
    statusNodes.push(text); stopButtons.push(halt);
    article.insertBefore(bar, article.firstChild);
  }

  // ------------------------------------------------------------ the cells of a page

  var cellsRun = {};  // index of each cell already run in this session

  function normal(text) {
    return text.split('\n').map(function (l) { return l.replace(/\s+$/, ''); }).join('\n').trim();
  }

  function showResult(out, r) {
    out.textContent = '';
    if (r.stdout) out.appendChild(el('pre', {class: 'mg-stdout', text: r.stdout}));
    if (r.stderr) out.appendChild(el('pre', {class: 'mg-stderr', text: r.stderr}));
    if (r.error && !r.stderr) out.appendChild(el('pre', {class: 'mg-stderr', text: r.error}));
    out.setAttribute('data-state', r.error ? 'error' : 'ok');
  }

  function setupCells(article, cells) {
    // pair the rendered cells (removed cells are not rendered) with their sources, in order
    var i = 0;
    article.querySelectorAll('div.cell').forEach(function (node) {
      var pre = node.querySelector('.cell_input pre');
      if (!pre) return;
      var text = normal(pre.textContent);
      for (var j = i; j < cells.length; j++) {
        if (normal(cells[j].source) === text) { cells[j].node = node; i = j + 1; attach(cells, j); return; }
      }
    });
  }

  // the earlier cells not yet run (hidden ones too), then this one, as the build ran them;
  // a hidden cell has no place for its output, so its failure is told under this cell.
  // A cell that draws a figure runs up to the drawing, which fails quietly: what it
  // computes first (the lengths of the names, say) is there for the cells below it.
  function runUpTo(cells, k, source) {
    var chain = Promise.resolve(), failed = '';
    var todo = cells.slice(0, k).map(function (c, j) { return j; }).filter(function (j) {
      return !cellsRun[j] && !PROCESSES.test(cells[j].source);
    });
    todo.forEach(function (j, n) {
      var c = cells[j], figure = FIGURE.test(c.source);
      chain = chain.then(function () {
        var label = 'Running the cells above this one first (' + (n + 1) + ' of ' + todo.length + ')…';
        return run(c.source, null, label).then(function (r) {
          cellsRun[j] = true;
          if (figure && r.error && r.error.indexOf(MISSING) >= 0) return;
          if (c.out) showResult(c.out, r);
          else if (r.error) failed += 'A hidden cell of this page, run before this one, failed:\n' + r.stderr + '\n';
        });
      });
    });
    return chain.then(function () { return run(source); }).then(function (r) {
      cellsRun[k] = true;
      if (failed) r.stderr = failed + r.stderr;
      return r;
    });
  }

  function attach(cells, k) {
    var cell = cells[k], node = cell.node, input = node.querySelector('.cell_input');
    var panel = el('div', {class: 'mg-cellrun'});
    input.parentNode.insertBefore(panel, input.nextSibling);
    if (cannot(cell.source)) {
      panel.appendChild(el('p', {class: 'mg-py-note', text: PROCESSES.test(cell.source) ?
        'This cell starts other processes, which the Python in your browser cannot do: ' +
        'its output was computed when the book was built.' :
        'This cell draws a figure with matplotlib, which the Python in your browser cannot do: ' +
        'the figure was drawn when the book was built.'}));
      return;
    }
    var editor = el('textarea', {class: 'mg-editor', spellcheck: 'false', 'aria-label': 'Python code of this cell',
                                 rows: String(cell.source.split('\n').length)});
    editor.value = cell.source;
    var button = el('button', {type: 'button', class: 'mg-button mg-run', text: 'Run',
                               'aria-label': 'Run this cell (Shift+Enter)'});
    var out = el('div', {class: 'mg-out', 'aria-live': 'polite'});
    cell.out = out;
    panel.appendChild(editor);
    panel.appendChild(button);
    panel.appendChild(out);
    function go() {
      button.disabled = true;
      out.textContent = 'Running…';
      runUpTo(cells, k, editor.value).then(function (r) { showResult(out, r); })
        .catch(function (e) { out.textContent = e.message; })
        .then(function () { button.disabled = false; });
    }
    button.addEventListener('click', go);
    editor.addEventListener('keydown', function (e) {
      if (e.key === 'Enter' && (e.shiftKey || e.ctrlKey)) { e.preventDefault(); go(); }
      if (e.key === 'Tab' && !e.shiftKey) {  // indent, as Python needs, instead of leaving the box
        e.preventDefault();
        editor.setRangeText('    ', editor.selectionStart, editor.selectionEnd, 'end');
      }
    });
  }

  // ------------------------------------------------------------ the training panel

  // the loss curve, drawn in the units of the panel's width, so that its labels keep
  // the size of the page's small text on a phone as on a desktop
  function plot(svg, losses, steps) {
    svg.style.display = '';
    var w = Math.max(280, Math.min(700, svg.parentNode.clientWidth || 600)), h = 200, pad = 34;
    var max = Math.max.apply(null, losses.concat([3.5])), min = Math.min.apply(null, losses.concat([1.5]));
    var x = function (i) { return (pad + (w - 2 * pad) * (steps > 1 ? i / (steps - 1) : 0.5)).toFixed(1); };
    var y = function (l) { return (h - pad - (h - 2 * pad) * (l - min) / (max - min)).toFixed(1); };
    svg.setAttribute('viewBox', '0 0 ' + w + ' ' + h);
    svg.innerHTML = '<line x1="' + pad + '" y1="' + (h - pad) + '" x2="' + (w - pad) + '" y2="' + (h - pad) + '"/>' +
      '<line x1="' + pad + '" y1="' + pad + '" x2="' + pad + '" y2="' + (h - pad) + '"/>' +
      '<text x="' + (pad - 4) + '" y="' + (pad + 4) + '" text-anchor="end">' + max.toFixed(1) + '</text>' +
      '<text x="' + (pad - 4) + '" y="' + (h - pad) + '" text-anchor="end">' + min.toFixed(1) + '</text>' +
      '<text x="' + pad + '" y="' + (h - 8) + '">step 1</text>' +
      '<text x="' + (w - pad) + '" y="' + (h - 8) + '" text-anchor="end">step ' + steps + '</text>' +
      '<text x="' + (w / 2) + '" y="20" text-anchor="middle">loss</text>' +
      '<polyline fill="none" points="' + losses.map(function (l, i) { return x(i) + ',' + y(l); }).join(' ') + '"/>';
  }

  function setupTraining(root) {
    var steps = el('input', {type: 'number', min: '1', max: '1000', value: root.getAttribute('data-steps') || '50',
                             class: 'mg-steps', 'aria-label': 'number of training steps'});
    var own = el('textarea', {class: 'mg-editor mg-own', rows: '4', spellcheck: 'false',
                              placeholder: 'Optional: your own list, one document per line (empty: the names data set)',
                              'aria-label': 'your own training documents, one per line'});
    var button = el('button', {type: 'button', class: 'mg-button mg-run', text: 'Train'});
    var svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    svg.setAttribute('class', 'mg-curve');
    svg.style.display = 'none';  // shown with the first step
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', 'training loss per step');
    var out = el('pre', {class: 'mg-stdout mg-trainout', 'aria-live': 'off'});
    var note = el('p', {class: 'mg-py-note', 'aria-live': 'polite'});
    // the panel's own Stop and status: the page's bar is far above it
    var halt = el('button', {type: 'button', class: 'mg-button', text: 'Stop', disabled: 'disabled',
                             'aria-label': 'Stop the training (restarts Python)'});
    halt.addEventListener('click', stop);
    var state = el('span', {class: 'mg-runstatus', role: 'status', 'aria-live': 'polite'});
    statusNodes.push(state); stopButtons.push(halt);
    root.textContent = '';
    root.appendChild(el('div', {class: 'mg-controls mg-py-controls'}, [
      el('label', {}, [document.createTextNode('Steps '), steps]), button, halt, state]));
    root.appendChild(own);
    root.appendChild(svg);
    root.appendChild(note);
    root.appendChild(out);
    if (FILE) { button.disabled = true; note.textContent = SERVE; }

    button.addEventListener('click', function () {
      var n = Math.max(1, Math.min(1000, parseInt(steps.value, 10) || 50));
      var mine = own.value.split('\n').map(function (l) { return l.trim(); }).filter(Boolean);
      var losses = [], partial = '';
      // the reference run, exactly as `python -m microgpt --steps N` prints it (or on the
      // reader's list, written into the worker's file system); pyrunner keeps the model
      var args = ['--steps', String(n)].concat(mine.length ? ['--data', 'mine.txt'] : []);
      var src = (mine.length ? 'open("mine.txt", "w", encoding="utf-8").write(' +
                 JSON.stringify(mine.join('\n') + '\n') + ')\n' : '') +
        'import pyrunner\n_status = pyrunner.train(' + JSON.stringify(args) + ')\n';
      out.textContent = '';
      button.disabled = true;
      note.textContent = 'Training ' + n + ' steps' + (mine.length ? ' on your ' + mine.length + ' documents' : '') + '…';
      run(src, function (stream, text) {
        if (stream !== 'stdout') return;
        out.textContent += text;
        partial += text;
        var lines = partial.split('\n');
        partial = lines.pop();
        lines.forEach(function (line) {
          var m = /^step\s+\d+\s*\/\s*\d+\s*\|\s*loss\s+([\d.]+)/.exec(line);
          if (m) { losses.push(parseFloat(m[1])); plot(svg, losses, n); }
        });
      }).then(function (r) {
        root.setAttribute('data-stdout', r.stdout);  // for the tests
        root.setAttribute('data-stderr', r.stderr);
        var failed = r.error || (/^microgpt: (error|.*interrupted)/m.exec(r.stderr) || [])[0];
        note.textContent = failed ? 'Training failed: ' + (r.error || r.stderr.trim()) :
          'Trained ' + losses.length + ' steps: the samples are at the end of the output.';
        if (!failed) return exportWeights(note);
      }).catch(function (e) { note.textContent = e.message; })
        .then(function () { button.disabled = false; root.setAttribute('data-done', 'true'); });
    });
  }

  // The weights just trained, handed (through this tab's sessionStorage) to the explorer
  // of "Play with the trained model", in the format the build gives it.
  function exportWeights(note) {
    return run('import pyrunner\nprint(pyrunner.explorer_data())').then(function (r) {
      if (r.error) return;
      try { sessionStorage.setItem('microgpt-trained', r.stdout.trim()); } catch (e) { return; }
      note.textContent += ' The explorer of the next chapter can now use these weights.';
    });
  }

  // on the explorer's page: offer the weights trained in the browser (this tab). The
  // explorer itself is drawn by widgets.js, which runs after this script (Sphinx puts an
  // extension's scripts before conf.py's): look it up when the button is pressed.
  function offerTrained() {
    var saved = null;
    try { saved = sessionStorage.getItem('microgpt-trained'); } catch (e) { return; }
    var widget = document.querySelector('.mg-widget[data-widget="explorer"]');
    if (!saved || !widget) return;
    var button = el('button', {type: 'button', class: 'mg-button', text: 'Use the weights I trained in the browser'});
    button.addEventListener('click', function () {
      if (!window.microgptWidgets || !window.microgptWidgets.init) return;
      var fresh = el('div', {class: 'mg-widget', 'data-widget': 'explorer'});
      fresh.appendChild(el('script', {type: 'application/json', class: 'mg-data', text: saved}));
      widget.parentNode.replaceChild(fresh, widget);
      widget = fresh;
      window.microgptWidgets.init();
      button.remove();
    });
    widget.parentNode.insertBefore(button, widget);
  }

  function init() {
    var article = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
    var data = document.getElementById('mg-cells');
    var panels = document.querySelectorAll('.mg-train');
    if (data || panels.length) toolbar(article, !!data);
    if (data) setupCells(article, JSON.parse(data.textContent));
    panels.forEach(setupTraining);
    offerTrained();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
