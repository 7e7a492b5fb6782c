/* The book's interactive widgets: the tokenizer (Tokens chapter), and the temperature
 * slider and next-character explorer (Play with the trained model). Plain JavaScript,
 * nothing loaded from anywhere: every number comes from the page, where the book build
 * wrote it as inline JSON (<script type="application/json" class="mg-data">) inside
 * <div class="mg-widget" data-widget="...">. */
(function () {
  'use strict';

  var BOS_SHOWN = 'BOS';  // spelled out: not every font has the book's symbol for it

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === 'text') node.textContent = attrs[key];
      else if (key === 'class') node.className = attrs[key];
      else node.setAttribute(key, attrs[key]);
    });
    (children || []).forEach(function (child) { node.appendChild(child); });
    return node;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  function shown(data, id) { return id === data.BOS ? BOS_SHOWN : data.chars[id]; }

  // Split text into tokens: {ch, id} with id null for a character outside the vocabulary.
  function tokenize(data, text) {
    var ids = {};
    data.chars.forEach(function (ch, i) { ids[ch] = i; });
    return Array.from(text).map(function (ch) {
      return {ch: ch, id: Object.prototype.hasOwnProperty.call(ids, ch) ? ids[ch] : null};
    });
  }

  // ------------------------------------------------------------ the model, on plain floats
  // A port of GPT.__call__ (chapter "The GPT") and softmax (chapter "Parameters and
  // building blocks"), operation for operation: sums run left to right from 0, and
  // a / b is a * b ** -1, as the Value engine computes it.

  function sum(xs) { var s = 0; for (var i = 0; i < xs.length; i++) s += xs[i]; return s; }

  function dot(a, b) {
    var s = 0;
    for (var i = 0; i < a.length; i++) s += a[i] * b[i];
    return s;
  }

  function linear(x, w) { return w.map(function (row) { return dot(row, x); }); }

  function rmsnorm(x) {
    var ms = dot(x, x) * Math.pow(x.length, -1);
    var scale = Math.pow(ms + 1e-5, -0.5);
    return x.map(function (xi) { return xi * scale; });
  }

  function softmax(z) {
    var top = Math.max.apply(null, z);
    var e = z.map(function (zi) { return Math.exp(zi - top); });
    var inv = Math.pow(sum(e), -1);
    return e.map(function (ei) { return ei * inv; });
  }

  function add(a, b) { return a.map(function (ai, i) { return ai + b[i]; }); }

  // One position: the logits of the next token, and each head's attention weights (per layer).
  function forward(model, token, pos, keys, values) {
    var c = model.config, w = model.weights, hd = c.n_embd / c.n_head;
    var x = rmsnorm(add(w.wte[token], w.wpe[pos]));
    var attn = [];
    for (var i = 0; i < c.n_layer; i++) {
      var L = 'layer' + i + '.';
      var h = rmsnorm(x);
      var q = linear(h, w[L + 'attn_wq']);
      keys[i].push(linear(h, w[L + 'attn_wk']));
      values[i].push(linear(h, w[L + 'attn_wv']));
      var out = [], heads = [];
      for (var head = 0; head < c.n_head; head++) {
        var lo = head * hd, hi = lo + hd;
        var qh = q.slice(lo, hi);
        var scores = keys[i].map(function (k) {
          return dot(qh, k.slice(lo, hi)) * Math.pow(Math.pow(hd, 0.5), -1);
        });
        var weights = softmax(scores);
        heads.push(weights);
        for (var j = lo; j < hi; j++) {
          var s = 0;
          for (var t = 0; t < weights.length; t++) s += weights[t] * values[i][t][j];
          out.push(s);
        }
      }
      attn.push(heads);
      x = add(linear(out, w[L + 'attn_wo']), x);
      var hidden = linear(rmsnorm(x), w[L + 'mlp_fc1']).map(function (u) { return Math.max(0, u); });
      x = add(linear(hidden, w[L + 'mlp_fc2']), x);
    }
    return {logits: linear(x, w.lm_head), attention: attn};
  }

  // Read BOS and then the token ids; what the model says after the last of them.
  function run(model, ids) {
    var n = model.config.n_layer, keys = [], values = [], result = null;
    for (var i = 0; i < n; i++) { keys.push([]); values.push([]); }
    [model.BOS].concat(ids).forEach(function (token, pos) {
      result = forward(model, token, pos, keys, values);
    });
    return {probs: softmax(result.logits), attention: result.attention};
  }

  // ------------------------------------------------------------ a bar chart of 27 tokens

  function barChart(data, caption) {
    var bars = el('div', {class: 'mg-bars', role: 'img', 'aria-label': caption});
    var cols = [];
    for (var i = 0; i < data.chars.length + 1; i++) {
      var bar = el('div', {class: 'mg-bar' + (i === data.BOS ? ' mg-bos' : '')});
      var value = el('span', {class: 'mg-bar-value'});
      var col = el('div', {class: 'mg-col', 'data-token': shown(data, i)},
                   [value, el('div', {class: 'mg-bar-track'}, [bar]),
                    el('span', {class: 'mg-bar-label' + (i === data.BOS ? ' mg-bos' : ''), text: shown(data, i)})]);
      bars.appendChild(col);
      cols.push({col: col, bar: bar, value: value});
    }
    var node = el('figure', {class: 'mg-chart'}, [bars, el('figcaption', {class: 'mg-note',
      text: 'Numbers over the bars: probability in percent. Bars are drawn relative to the tallest.'})]);
    return {
      node: node,
      update: function (probs) {
        var tallest = Math.max.apply(null, probs);  // bars are drawn relative to the tallest
        probs.forEach(function (p, i) {
          var c = cols[i];
          c.bar.style.height = (100 * p / tallest).toFixed(2) + '%';
          c.value.textContent = p >= 0.005 ? Math.round(100 * p) : '';
          c.col.setAttribute('data-p', String(p));
          c.col.title = shown(data, i) + ': ' + (100 * p).toFixed(2) + '%';
        });
      }
    };
  }

  function topList(data, probs, k) {
    var order = probs.map(function (p, i) { return i; });
    order.sort(function (a, b) { return probs[b] - probs[a]; });
    return order.slice(0, k).map(function (i) {
      return (i === data.BOS ? 'BOS (the end)' : data.chars[i]) + ' ' + (100 * probs[i]).toFixed(1) + '%';
    }).join(', ');
  }

  // ------------------------------------------------------------ the widgets

  function tokenizerWidget(root, data) {
    var input = el('input', {type: 'text', class: 'mg-input', value: data.example || 'emma',
                             'aria-label': 'a name to tokenize', spellcheck: 'false', autocomplete: 'off'});
    var chips = el('div', {class: 'mg-chips', 'aria-live': 'polite'});
    var ids = el('p', {class: 'mg-ids'});
    var note = el('p', {class: 'mg-note'});
    root.appendChild(el('label', {class: 'mg-label'}, [document.createTextNode('Type a name: '), input]));
    root.appendChild(chips);
    root.appendChild(ids);
    root.appendChild(note);

    function chip(text, id, cls) {
      return el('span', {class: 'mg-chip ' + (cls || '')},
                [el('span', {class: 'mg-chip-ch', text: text}), el('span', {class: 'mg-chip-id', text: id})]);
    }

    function update() {
      var tokens = tokenize(data, input.value);
      clear(chips);
      chips.appendChild(chip(BOS_SHOWN, String(data.BOS), 'mg-bos'));
      tokens.forEach(function (t) {
        chips.appendChild(t.id === null ? chip(t.ch === ' ' ? '\u2423' : t.ch, '?', 'mg-unknown')
                                         : chip(t.ch, String(t.id)));
      });
      chips.appendChild(chip(BOS_SHOWN, String(data.BOS), 'mg-bos'));
      var unknown = tokens.filter(function (t) { return t.id === null; });
      if (unknown.length) {
        var list = Array.from(new Set(unknown.map(function (t) { return JSON.stringify(t.ch); })));
        ids.textContent = 'encode() refuses this text.';
        note.textContent = 'Not in the vocabulary: ' + list.join(', ') +
          '. The tokenizer only knows the ' + data.chars.length + ' characters ' + data.chars.join('') +
          ', so encode() raises ValueError for this text.';
        root.classList.add('mg-has-unknown');
      } else {
        ids.textContent = 'encode(' + JSON.stringify(input.value) + ') = [' +
          [data.BOS].concat(tokens.map(function (t) { return t.id; }), [data.BOS]).join(', ') + ']';
        note.textContent = (tokens.length + 2) + ' tokens: ' + tokens.length + ' characters and BOS at both ends.';
        root.classList.remove('mg-has-unknown');
      }
    }
    input.addEventListener('input', update);
    update();
  }

  function temperatureWidget(root, data) {
    var select = el('select', {class: 'mg-select', 'aria-label': 'the beginning of the name'});
    data.contexts.forEach(function (c, i) {
      select.appendChild(el('option', {value: String(i),
        text: c.prefix ? 'after "' + c.prefix + '"' : 'at the start (the first letter)'}));
    });
    var slider = el('input', {type: 'range', class: 'mg-slider', min: '0.1', max: '3', step: '0.05',
                              value: '1', 'aria-label': 'temperature'});
    var readout = el('output', {class: 'mg-readout'});
    var chart = barChart(data, 'probability of each next token');
    var summary = el('p', {class: 'mg-note', 'aria-live': 'polite'});
    root.appendChild(el('div', {class: 'mg-controls'}, [
      el('label', {class: 'mg-label'}, [document.createTextNode('The next token '), select]),
      el('label', {class: 'mg-label'}, [document.createTextNode('Temperature T = '), readout, slider])]));
    root.appendChild(chart.node);
    root.appendChild(summary);

    function update() {
      var T = parseFloat(slider.value);
      var logits = data.contexts[parseInt(select.value, 10)].logits;
      var inv = Math.pow(T, -1);  // z / T, computed as the sampler computes it
      var probs = softmax(logits.map(function (z) { return z * inv; }));
      readout.textContent = T.toFixed(2);
      chart.update(probs);
      var entropy = -sum(probs.map(function (p) { return p > 0 ? p * Math.log(p) : 0; }));
      summary.textContent = 'Most likely: ' + topList(data, probs, 3) + '. Effective number of choices ' +
        '(the perplexity, e to the entropy): ' + Math.exp(entropy).toFixed(1) + ' of ' + probs.length + '.';
    }
    slider.addEventListener('input', update);
    select.addEventListener('change', update);
    update();
  }

  function explorerWidget(root, data) {
    var model = data, maxChars = data.config.block_size - 1;
    var input = el('input', {type: 'text', class: 'mg-input', value: data.example || '',
                             placeholder: 'the start of a name', 'aria-label': 'the start of a name',
                             spellcheck: 'false', autocomplete: 'off'});
    var chips = el('div', {class: 'mg-chips'});
    var note = el('p', {class: 'mg-note mg-warn', 'aria-live': 'polite'});
    var chart = barChart(data, 'the model\'s probability for each next character');
    var top = el('p', {class: 'mg-note', 'aria-live': 'polite'});
    var grid = el('table', {class: 'mg-attention'});
    root.appendChild(el('label', {class: 'mg-label'}, [document.createTextNode('Prefix: '), input]));
    root.appendChild(chips);
    root.appendChild(note);
    root.appendChild(el('p', {class: 'mg-heading', text: 'Next token'}));
    root.appendChild(chart.node);
    root.appendChild(top);
    root.appendChild(el('p', {class: 'mg-heading', text: 'Attention of the last position, per head'}));
    root.appendChild(el('div', {class: 'mg-scroll'}, [grid]));

    function update() {
      var tokens = tokenize(data, input.value);
      var known = tokens.filter(function (t) { return t.id !== null; });
      var used = known.slice(0, maxChars), dropped = known.slice(maxChars);
      var unknown = tokens.filter(function (t) { return t.id === null; });
      clear(chips);
      chips.appendChild(el('span', {class: 'mg-chip mg-bos'}, [el('span', {class: 'mg-chip-ch', text: BOS_SHOWN})]));
      var kept = 0;
      tokens.forEach(function (t) {
        var cls = t.id === null ? 'mg-unknown' : (kept++ < maxChars ? '' : 'mg-dropped');
        chips.appendChild(el('span', {class: 'mg-chip ' + cls},
                             [el('span', {class: 'mg-chip-ch', text: t.ch === ' ' ? '\u2423' : t.ch})]));
      });
      var notes = [];
      if (unknown.length) {
        notes.push('Skipped, not in the vocabulary: ' +
          Array.from(new Set(unknown.map(function (t) { return JSON.stringify(t.ch); }))).join(', ') + '.');
      }
      if (dropped.length) {
        notes.push('The model reads at most ' + data.config.block_size + ' positions (BOS and ' + maxChars +
          ' characters): the last ' + dropped.length + ' character' + (dropped.length > 1 ? 's are' : ' is') +
          ' ignored.');
      }
      note.textContent = notes.join(' ');
      var ids = used.map(function (t) { return t.id; });
      var result = run(model, ids);
      chart.update(result.probs);
      root.setAttribute('data-prefix', used.map(function (t) { return t.ch; }).join(''));
      var prefix = used.map(function (t) { return t.ch; }).join('');
      top.textContent = (prefix ? 'Most likely after "' + prefix + '"' : 'Most likely first letters') +
        ': ' + topList(data, result.probs, 5) + '.';
      // one row per head: the weights of the last position over BOS and the prefix
      clear(grid);
      var head = el('tr', {}, [el('th', {text: ''})]);
      [data.BOS].concat(ids).forEach(function (id) { head.appendChild(el('th', {text: shown(data, id)})); });
      grid.appendChild(el('thead', {}, [head]));
      var body = el('tbody');
      result.attention[0].forEach(function (weights, h) {
        var row = el('tr', {}, [el('th', {text: 'head ' + h})]);
        weights.forEach(function (a) {
          var cell = el('td', {text: a.toFixed(2), 'data-w': String(a)});
          cell.style.setProperty('--mg-w', a.toFixed(4));
          if (a > 0.55) cell.classList.add('mg-strong');
          row.appendChild(cell);
        });
        body.appendChild(row);
      });
      grid.appendChild(body);
    }
    input.addEventListener('input', update);
    update();
  }

  var WIDGETS = {tokenizer: tokenizerWidget, temperature: temperatureWidget, explorer: explorerWidget};

  function init() {
    document.querySelectorAll('.mg-widget').forEach(function (root) {
      var make = WIDGETS[root.getAttribute('data-widget')];
      var source = root.querySelector('script.mg-data');
      if (!make || !source || root.getAttribute('data-ready')) return;
      var data = JSON.parse(source.textContent);
      root.querySelectorAll('.mg-noscript').forEach(function (n) { n.remove(); });
      make(root, data);
      root.setAttribute('data-ready', 'true');
    });
  }

  // for the browser tests and the curious: the forward pass, callable from the console
  window.microgptWidgets = {run: run, softmax: softmax, tokenize: tokenize, init: init};  // init: runcells.js swaps in weights trained in the browser

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
