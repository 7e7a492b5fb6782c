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

  // ------------------------------------------------------------ colours and contrast

  // [r, g, b] (0-255) of a colour as the browser computes it ("rgb(...)" or "rgba(...)")
  function rgbOf(css) {
    var m = String(css).match(/[\d.]+/g) || ['0', '0', '0'];
    return [parseFloat(m[0]), parseFloat(m[1]), parseFloat(m[2])];
  }

  // relative luminance and contrast ratio, as WCAG 2 defines them
  function luminance(rgb) {
    var c = rgb.map(function (v) {
      v = v / 255;
      return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  }

  function contrast(a, b) {
    var la = luminance(a), lb = luminance(b);
    return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
  }

  function css(rgb) { return 'rgb(' + rgb.map(function (v) { return Math.round(v); }).join(', ') + ')'; }

  // The theme's colours, read where they apply: the widget's background and text, and
  // the accent of its bars. They change when the reader switches between light and dark.
  function palette(root) {
    var probe = el('span', {class: 'mg-bar'});
    root.appendChild(probe);
    var style = getComputedStyle(root);
    var colours = {background: rgbOf(style.backgroundColor), text: rgbOf(style.color),
                   accent: rgbOf(getComputedStyle(probe).backgroundColor)};
    root.removeChild(probe);
    return colours;
  }

  // A heat-map cell: the accent mixed into the background in proportion to weight, with
  // whichever of the theme's text and background colours reads better on it, or black or
  // white if neither reaches 4.5:1 (one of the two always does).
  function heat(colours, weight) {
    var bg = colours.accent.map(function (a, i) { return weight * a + (1 - weight) * colours.background[i]; });
    var text = [colours.text, colours.background].sort(function (a, b) { return contrast(b, bg) - contrast(a, bg); })[0];
    if (contrast(text, bg) < 4.5) text = contrast([0, 0, 0], bg) > contrast([255, 255, 255], bg) ? [0, 0, 0] : [255, 255, 255];
    return {background: css(bg), color: css(text)};
  }

  // ------------------------------------------------------------ a bar chart of 27 tokens
  // Bar heights are probabilities on a fixed axis from 0 to 100%, so the picture changes
  // as the distribution does: as the temperature falls, the favourite's bar grows towards
  // the top and the others shrink towards nothing. With pick(id), each letter's bar is a
  // button (one Tab stop, arrow keys move between them) and choosing it calls pick.

  function barChart(data, caption, pick) {
    var bars = el('div', pick ? {class: 'mg-bars', role: 'toolbar', 'aria-label': caption}
                              : {class: 'mg-bars', role: 'img', 'aria-label': caption});
    var cols = [];
    for (var i = 0; i < data.chars.length + 1; i++) {
      var bos = i === data.BOS, button = pick && !bos;
      var bar = el('div', {class: 'mg-bar' + (bos ? ' mg-bos' : '')});
      var value = el('span', {class: 'mg-bar-value'});  // over the bar's top
      var spoken = pick ? el('span', {class: 'mg-sr'}) : null;
      var attrs = {class: 'mg-col' + (bos ? ' mg-bos-col' : ''), 'data-token': shown(data, i)};
      if (button) { attrs.type = 'button'; attrs.tabindex = cols.length ? '-1' : '0'; }
      var col = el(button ? 'button' : 'div', attrs,
                   [el('div', {class: 'mg-bar-track', 'aria-hidden': 'true'}, [bar, value]),
                    el('span', {class: 'mg-bar-label' + (bos ? ' mg-bos' : ''), 'aria-hidden': 'true',
                                text: shown(data, i)})].concat(spoken ? [spoken] : []));
      if (button) col.addEventListener('click', pick.bind(null, i));
      bars.appendChild(col);
      cols.push({col: col, bar: bar, value: value, spoken: spoken});
    }
    if (pick) {  // the toolbar pattern: Left and Right (Home, End) move among the letters
      bars.addEventListener('keydown', function (event) {
        var buttons = Array.from(bars.querySelectorAll('button'));
        var at = buttons.indexOf(document.activeElement), to = null;
        if (at < 0) return;
        if (event.key === 'ArrowRight' || event.key === 'ArrowDown') to = Math.min(at + 1, buttons.length - 1);
        else if (event.key === 'ArrowLeft' || event.key === 'ArrowUp') to = Math.max(at - 1, 0);
        else if (event.key === 'Home') to = 0;
        else if (event.key === 'End') to = buttons.length - 1;
        if (to === null) return;
        event.preventDefault();
        buttons[at].tabIndex = -1;
        buttons[to].tabIndex = 0;
        buttons[to].focus();
      });
    }
    var axis = el('div', {class: 'mg-axis', 'aria-hidden': 'true'}, [0, 50, 100].map(function (v) {
      var tick = el('span', {class: 'mg-tick', text: v ? v + '%' : '0'});
      tick.style.bottom = v + '%';
      return tick;
    }));
    var note = 'Bars: probability, on a fixed scale from 0 to 100%; numbers: percent, rounded (none under 0.5%).';
    if (pick) note += ' Click a bar (or choose it with the arrow keys and Enter) to add its letter to the prefix.';
    var node = el('figure', {class: 'mg-chart'}, [el('div', {class: 'mg-plot'}, [axis, bars]),
                                                  el('figcaption', {class: 'mg-note', text: note})]);
    return {
      node: node,
      update: function (probs) {
        probs.forEach(function (p, i) {
          var c = cols[i], percent = (100 * p).toFixed(2) + '%';
          c.bar.style.height = (100 * p).toFixed(3) + '%';
          c.value.style.bottom = (100 * p).toFixed(3) + '%';
          c.value.textContent = p >= 0.005 ? Math.round(100 * p) : '';
          c.col.setAttribute('data-p', String(p));
          c.col.title = shown(data, i) + ': ' + percent;
          if (c.spoken) c.spoken.textContent = (i === data.BOS ? 'BOS, the end' : shown(data, i)) + ', ' + (100 * p).toFixed(1) + '%';
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

  // The names of the data set are all lowercase, so the vocabulary has no capitals: the
  // widgets read what is typed in lowercase (the tokenizer itself takes text as it is).
  function capitals(text) {
    var found = Array.from(new Set(Array.from(text).filter(function (ch) {
      return ch !== ch.toLowerCase();
    })));
    return found.length ? found.map(function (ch) { return JSON.stringify(ch); }).join(', ') : '';
  }

  function tokenizerWidget(root, data) {
    var input = el('input', {type: 'text', class: 'mg-input', value: data.example || 'emma',
                             'aria-label': 'a name to tokenize', spellcheck: 'false', autocomplete: 'off'});
    var chips = el('div', {class: 'mg-chips', 'aria-live': 'polite'});
    var ids = el('p', {class: 'mg-ids'});
    var note = el('p', {class: 'mg-note'});
    var lower = el('p', {class: 'mg-note mg-lower'});
    root.appendChild(el('label', {class: 'mg-label'}, [document.createTextNode('Type a name: '), input]));
    root.appendChild(chips);
    root.appendChild(ids);
    root.appendChild(note);
    root.appendChild(lower);

    function chip(text, id, cls) {
      return el('span', {class: 'mg-chip ' + (cls || '')},
                [el('span', {class: 'mg-chip-ch', text: text}), el('span', {class: 'mg-chip-id', text: id})]);
    }

    function update() {
      var text = input.value.toLowerCase(), upper = capitals(input.value);
      var tokens = tokenize(data, text);
      clear(chips);
      chips.appendChild(chip(BOS_SHOWN, String(data.BOS), 'mg-bos'));
      tokens.forEach(function (t) {
        chips.appendChild(t.id === null ? chip(t.ch === ' ' ? '\u2423' : t.ch, '?', 'mg-unknown')
                                         : chip(t.ch, String(t.id)));
      });
      chips.appendChild(chip(BOS_SHOWN, String(data.BOS), 'mg-bos'));
      lower.textContent = upper ? 'Read in lowercase: the names are all lowercase, so the vocabulary has no ' +
        'capitals, and encode() itself, which takes the text as it is, would refuse ' + upper + '.' : '';
      var unknown = tokens.filter(function (t) { return t.id === null; });
      if (unknown.length) {
        var list = Array.from(new Set(unknown.map(function (t) { return JSON.stringify(t.ch); })));
        ids.textContent = 'encode() refuses this text.';
        note.textContent = 'Not in the vocabulary: ' + list.join(', ') +
          '. The tokenizer only knows the ' + data.chars.length + ' characters ' + data.chars.join('') +
          ', so encode() raises ValueError for this text.';
        root.classList.add('mg-has-unknown');
      } else {
        ids.textContent = 'encode(' + JSON.stringify(text) + ') = [' +
          [data.BOS].concat(tokens.map(function (t) { return t.id; }), [data.BOS]).join(', ') + ']';
        note.textContent = (tokens.length + 2) + ' tokens: ' + tokens.length + ' characters and BOS at both ends.';
        root.classList.remove('mg-has-unknown');
      }
    }
    input.addEventListener('input', update);
    update();
  }

  function temperatureWidget(root, data) {
    var select = null, controls = [];
    if (data.contexts.length > 1) {  // one context needs no choice
      select = el('select', {class: 'mg-select', 'aria-label': 'the beginning of the name'});
      data.contexts.forEach(function (c, i) {
        select.appendChild(el('option', {value: String(i), text: c.prefix ? 'after "' + c.prefix + '"' : 'the first letter'}));
      });
      controls.push(el('label', {class: 'mg-label'}, [document.createTextNode('Next token: '), select]));
    }
    var slider = el('input', {type: 'range', class: 'mg-slider', min: '0.1', max: '3', step: '0.05',
                              value: '1', 'aria-label': 'temperature'});
    var readout = el('output', {class: 'mg-readout'});
    controls.push(el('label', {class: 'mg-label'}, [document.createTextNode('Temperature T = '), readout, slider]));
    var chart = barChart(data, 'probability of each next token');
    var summary = el('p', {class: 'mg-note', 'aria-live': 'polite'});
    root.appendChild(el('div', {class: 'mg-controls'}, controls));
    root.appendChild(chart.node);
    root.appendChild(summary);

    function update() {
      var T = parseFloat(slider.value);
      var logits = data.contexts[select ? parseInt(select.value, 10) : 0].logits;
      var inv = Math.pow(T, -1);  // z / T, computed as the sampler computes it
      var probs = softmax(logits.map(function (z) { return z * inv; }));
      readout.textContent = T.toFixed(2);
      chart.update(probs);
      var entropy = -sum(probs.map(function (p) { return p > 0 ? p * Math.log(p) : 0; }));
      summary.textContent = 'Most likely: ' + topList(data, probs, 3) + '. Effective number of choices ' +
        '(the perplexity, e to the entropy): ' + Math.exp(entropy).toFixed(1) + ' of ' + probs.length + '.';
    }
    slider.addEventListener('input', update);
    if (select) select.addEventListener('change', update);
    update();
  }

  function explorerWidget(root, data) {
    var model = data, maxChars = data.config.block_size - 1;
    var input = el('input', {type: 'text', class: 'mg-input', value: data.example || '',
                             placeholder: 'the start of a name', 'aria-label': 'the start of a name',
                             spellcheck: 'false', autocomplete: 'off'});
    var chips = el('div', {class: 'mg-chips'});
    var note = el('p', {class: 'mg-note mg-warn', 'aria-live': 'polite'});
    var lower = el('p', {class: 'mg-note mg-lower'});
    var chart = barChart(data, 'next character: choose one to add it to the prefix', function (id) {
      input.value += data.chars[id];
      update();
    });
    var top = el('p', {class: 'mg-note', 'aria-live': 'polite'});
    var grid = el('table', {class: 'mg-attention'});
    root.appendChild(el('label', {class: 'mg-label'}, [document.createTextNode('Prefix: '), input]));
    root.appendChild(chips);
    root.appendChild(lower);
    root.appendChild(note);
    root.appendChild(el('p', {class: 'mg-heading', text: 'Next token'}));
    root.appendChild(chart.node);
    root.appendChild(top);
    root.appendChild(el('p', {class: 'mg-heading', text: 'Attention of the last position, per head'}));
    root.appendChild(el('div', {class: 'mg-scroll'}, [grid]));

    function update() {
      var tokens = tokenize(data, input.value.toLowerCase()), upper = capitals(input.value);
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
      lower.textContent = upper ? 'Read in lowercase (' + upper + '): the names the model learned from are all lowercase.' : '';
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
      var prefix = used.map(function (t) { return t.ch; }).join('');
      root.setAttribute('data-prefix', prefix);
      top.textContent = (prefix ? 'Most likely after "' + prefix + '"' : 'Most likely first letters') +
        ': ' + topList(data, result.probs, 5) + '.';
      // one row per head: the weights of the last position over BOS and the prefix, as a
      // heat map in the theme's colours (computed here, so that every number keeps 4.5:1)
      var colours = palette(root);
      clear(grid);
      var head = el('tr', {}, [el('td')]);
      [data.BOS].concat(ids).forEach(function (id) { head.appendChild(el('th', {text: shown(data, id), scope: 'col'})); });
      grid.appendChild(el('thead', {}, [head]));
      var body = el('tbody');
      result.attention[0].forEach(function (weights, h) {
        var row = el('tr', {}, [el('th', {text: 'head ' + h, scope: 'row'})]);
        weights.forEach(function (a) {
          var cell = el('td', {text: a.toFixed(2), 'data-w': String(a)}), look = heat(colours, a);
          cell.style.backgroundColor = look.background;
          cell.style.color = look.color;
          row.appendChild(cell);
        });
        body.appendChild(row);
      });
      grid.appendChild(body);
    }
    input.addEventListener('input', update);
    // the heat map follows the reader's switch between the light and the dark theme
    new MutationObserver(update).observe(document.documentElement, {attributes: true, attributeFilter: ['data-theme']});
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
