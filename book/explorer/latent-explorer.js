/*
 * Latent-space explorer that runs in the page: no kernel, no server, no library.
 *
 * The data come from `python -m book.export <folder>`, which writes explorer-data.js beside this file: the
 * decoder g of the shipped `vae-mnist-z2` VAE (its Linear layers as float16, SiLU between them), the codes μ(x) of
 * the 1,000 bundled test digits and their labels. Moving a slider (or clicking or dragging on the map) decodes
 *
 *     image = sigmoid(g(z)),  g(z) = W3 · silu(W2 · silu(W1 · z + b1) + b2) + b3,  silu(a) = a · sigmoid(a)
 *
 * which is what notebook 06 computes with torch (`torch.sigmoid(vae2.decode(z))`), and draws it as 28 × 28 grey
 * levels round(255 · p). Data are loaded with a <script> tag, not fetch(), so the page also works from file://.
 *
 * The page mounts the explorer in <div id="latent-explorer">; without one (notebook 06's page) it goes right after
 * the article's title <h1>. `window.latentExplorer` exposes the state and the timings the browser test reads.
 */
(function () {
  "use strict";

  var SIDE = 28; // MNIST digits are 28 × 28
  var MAP_SIZE = 320; // CSS pixels of the square latent map
  var MAP_MARGIN = 30; // room for the tick labels, CSS pixels
  var FORMAT = 1; // the payload layout this file reads (book.export.FORMAT)
  var here = document.currentScript ? document.currentScript.src : "";
  var folder = here.slice(0, here.lastIndexOf("/") + 1); // data and css live beside this file

  // ------------------------------------------------------------------------------------------------ the model
  /** IEEE half-precision bits → number (exact: every float16 value is a float64 value). */
  function halfToNumber(bits) {
    var sign = bits & 0x8000 ? -1 : 1;
    var exponent = (bits >> 10) & 0x1f;
    var fraction = bits & 0x3ff;
    if (exponent === 0) return sign * fraction * Math.pow(2, -24); // subnormal
    if (exponent === 31) return fraction ? NaN : sign * Infinity;
    return sign * (1 + fraction / 1024) * Math.pow(2, exponent - 15);
  }

  /** The base64 float16 buffer → per layer {weight (out × in, row-major), bias, in, out} as Float32Arrays. */
  function readLayers(data) {
    var bytes = atob(data.weights);
    var offset = 0;
    function take(count) {
      var values = new Float32Array(count);
      for (var i = 0; i < count; i++, offset += 2) {
        values[i] = halfToNumber(bytes.charCodeAt(offset) | (bytes.charCodeAt(offset + 1) << 8)); // little-endian
      }
      return values;
    }
    var layers = data.layers.map(function (shape) {
      return { in: shape.in, out: shape.out, weight: take(shape.in * shape.out), bias: take(shape.out) };
    });
    if (offset !== bytes.length) throw new Error("explorer-data.js: weights do not match the layer shapes");
    return layers;
  }

  function sigmoid(a) {
    return 1 / (1 + Math.exp(-a));
  }

  /** sigmoid(g(z)): Linear layers with SiLU between them, then the Bernoulli mean. Returns 784 values in [0, 1]. */
  function decode(layers, z) {
    var h = z;
    for (var l = 0; l < layers.length; l++) {
      var layer = layers[l];
      var last = l === layers.length - 1;
      var next = new Float64Array(layer.out);
      for (var o = 0; o < layer.out; o++) {
        var sum = layer.bias[o];
        var row = o * layer.in;
        for (var i = 0; i < layer.in; i++) sum += layer.weight[row + i] * h[i];
        next[o] = last ? sigmoid(sum) : sum * sigmoid(sum); // SiLU between layers, sigmoid at the end
      }
      h = next;
    }
    return h;
  }

  // -------------------------------------------------------------------------------------------------- the page
  function element(tag, attributes, children) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) {
      node.setAttribute(name, attributes[name]);
    });
    (children || []).forEach(function (child) {
      node.append(child);
    });
    return node;
  }

  function slider(index, data) {
    var id = "latent-explorer-z" + index;
    var input = element("input", {
      type: "range", id: id, min: -data.limit, max: data.limit, step: data.step, value: 0,
      "aria-label": "z" + index + ", latent coordinate " + index,
    });
    var readout = element("output", { for: id, class: "lx-readout" }, ["0.00"]);
    var label = element("label", { for: id }, [element("var", {}, ["z"]), element("sub", {}, [String(index)])]);
    return { input: input, readout: readout, row: element("div", { class: "lx-slider" }, [label, input, readout]) };
  }

  function legend(colors) {
    var items = colors.map(function (color, digit) {
      var swatch = element("span", { class: "lx-swatch", style: "background:" + color, "aria-hidden": "true" });
      return element("li", {}, [swatch, String(digit)]);
    });
    return element("ul", { class: "lx-legend", "aria-label": "colour of each digit label on the map" }, items);
  }

  function build(mount, data, count) {
    var sliders = [slider(1, data), slider(2, data)];
    var digit = element("canvas", { class: "lx-digit", width: SIDE, height: SIDE, role: "img" });
    var map = element("canvas", { class: "lx-map", role: "img" });
    var ratio = window.devicePixelRatio || 1; // sharp map on high-DPI screens
    map.width = map.height = Math.round(MAP_SIZE * ratio);
    map.style.width = map.style.height = MAP_SIZE + "px";
    var controls = element("div", { class: "lx-controls" }, [
      sliders[0].row, sliders[1].row,
      element("figure", {}, [digit, element("figcaption", {}, ["decoded digit sigmoid(g(z))"])]),
    ]);
    var mapFigure = element("figure", { class: "lx-map-figure" }, [
      map, element("figcaption", {}, ["μ(x) of the " + count + " test digits, coloured by label; " +
        "the cross is z. Click or drag to move z."]), legend(data.colors),
    ]);
    mount.replaceChildren(element("div", { class: "lx-body" }, [controls, mapFigure]));
    mount.classList.add("latent-explorer");
    mount.setAttribute("role", "group");
    mount.setAttribute("aria-label", "latent-space explorer of the 2-D VAE");
    return { sliders: sliders, digit: digit, map: map, ratio: ratio };
  }

  // ------------------------------------------------------------------------------------------------ the map
  /** Latent z ↔ CSS pixels of the map: the square [−limit, limit]² inside the margins, z₂ pointing up. */
  function mapScale(limit) {
    var span = MAP_SIZE - 2 * MAP_MARGIN;
    return {
      toPixel: function (z1, z2) {
        return [MAP_MARGIN + ((z1 + limit) / (2 * limit)) * span, MAP_MARGIN + ((limit - z2) / (2 * limit)) * span];
      },
      toLatent: function (x, y) {
        return [((x - MAP_MARGIN) / span) * 2 * limit - limit, limit - ((y - MAP_MARGIN) / span) * 2 * limit];
      },
    };
  }

  /** The codes, the frame and the ticks, drawn once into an off-screen canvas; each move only adds the cross. */
  function drawBackground(data, scale, ratio) {
    var canvas = document.createElement("canvas");
    canvas.width = canvas.height = Math.round(MAP_SIZE * ratio);
    var ctx = canvas.getContext("2d");
    ctx.scale(ratio, ratio);
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, MAP_SIZE, MAP_SIZE);
    var low = scale.toPixel(-data.limit, -data.limit);
    var high = scale.toPixel(data.limit, data.limit);
    ctx.save();
    ctx.beginPath();
    ctx.rect(low[0], high[1], high[0] - low[0], low[1] - high[1]);
    ctx.clip(); // codes beyond the slider range would land in the margins: leave them out
    for (var n = 0; n < data.labels.length; n++) {
      var p = scale.toPixel(data.codes[2 * n], data.codes[2 * n + 1]);
      ctx.fillStyle = data.colors[+data.labels[n]];
      ctx.beginPath();
      ctx.arc(p[0], p[1], 2, 0, 2 * Math.PI);
      ctx.fill();
    }
    ctx.restore();
    ctx.strokeStyle = "#444444";
    ctx.strokeRect(low[0], high[1], high[0] - low[0], low[1] - high[1]);
    ctx.fillStyle = "#222222";
    ctx.font = "11px sans-serif";
    ctx.textAlign = "center";
    for (var t = Math.ceil(-data.limit); t <= data.limit; t++) {
      var tick = scale.toPixel(t, t);
      ctx.fillText(String(t), tick[0], low[1] + 14); // z₁ along the bottom
      ctx.fillText(String(t), low[0] - 12, tick[1] + 4); // z₂ along the left
    }
    ctx.fillText("z₁", (low[0] + high[0]) / 2, MAP_SIZE - 3);
    ctx.fillText("z₂", 10, high[1] - 8);
    return canvas;
  }

  function drawCross(ctx, x, y) {
    var r = 7;
    [["#ffffff", 5], ["#000000", 2.5]].forEach(function (pen) { // white outline, black stroke
      ctx.strokeStyle = pen[0];
      ctx.lineWidth = pen[1];
      ctx.beginPath();
      ctx.moveTo(x - r, y - r);
      ctx.lineTo(x + r, y + r);
      ctx.moveTo(x + r, y - r);
      ctx.lineTo(x - r, y + r);
      ctx.stroke();
    });
  }

  // ---------------------------------------------------------------------------------------------- the explorer
  function start(mount, data) {
    if (data.format !== FORMAT) throw new Error("explorer-data.js has format " + data.format + ", expected " + FORMAT);
    if (data.activation !== "silu") throw new Error("this page computes SiLU, the data say " + data.activation);
    var layers = readLayers(data);
    var count = data.labels.length.toLocaleString("en-US"); // "1,000" test digits
    var ui = build(mount, data, count);
    var scale = mapScale(data.limit);
    var background = drawBackground(data, scale, ui.ratio);
    var digitCtx = ui.digit.getContext("2d");
    var mapCtx = ui.map.getContext("2d");
    var frame = digitCtx.createImageData(SIDE, SIDE);
    var state = { z: [0, 0], handlerMs: [], eventToDrawMs: [], draws: 0, pixels: null };

    /** Decode z, draw the digit and the cross, update readouts and descriptions. */
    function draw() {
      var z = [ui.sliders[0].input.valueAsNumber, ui.sliders[1].input.valueAsNumber];
      var image = decode(layers, z);
      var grey = new Uint8ClampedArray(SIDE * SIDE);
      for (var k = 0; k < SIDE * SIDE; k++) {
        grey[k] = Math.round(255 * image[k]); // white ink on black, grey = round(255 · p) as in notebook 06
        frame.data[4 * k] = frame.data[4 * k + 1] = frame.data[4 * k + 2] = grey[k];
        frame.data[4 * k + 3] = 255;
      }
      digitCtx.putImageData(frame, 0, 0);
      mapCtx.setTransform(1, 0, 0, 1, 0, 0);
      mapCtx.drawImage(background, 0, 0);
      mapCtx.scale(ui.ratio, ui.ratio);
      var p = scale.toPixel(z[0], z[1]);
      drawCross(mapCtx, p[0], p[1]);
      var text = "(" + z[0].toFixed(2) + ", " + z[1].toFixed(2) + ")";
      ui.sliders.forEach(function (s, i) { s.readout.textContent = z[i].toFixed(2); });
      ui.digit.setAttribute("aria-label", "the digit the decoder draws at z = " + text);
      ui.map.setAttribute("aria-label", "map of the codes of " + count + " test digits coloured by label, " +
        "with a cross at z = " + text);
      state.z = z;
      state.pixels = grey;
      state.draws += 1;
    }

    /** Time each input: performance.now() around the handler, and from the event's own time stamp. */
    function timed(event, move) {
      var started = performance.now();
      move();
      draw();
      var ended = performance.now();
      state.handlerMs.push(ended - started);
      state.eventToDrawMs.push(ended - event.timeStamp);
    }

    ui.sliders.forEach(function (s) {
      s.input.addEventListener("input", function (event) { timed(event, function () {}); });
    });
    // Press on the map to move z there, keep the button down and drag to move it along (mouse, pen or touch).
    function moveToPointer(event) {
      timed(event, function () {
        var z = scale.toLatent(event.offsetX, event.offsetY); // CSS pixels from the canvas's top-left corner
        ui.sliders[0].input.value = z[0]; // the range input clamps to [−limit, limit] and snaps to the step
        ui.sliders[1].input.value = z[1];
      });
    }
    var dragging = false;
    ui.map.addEventListener("pointerdown", function (event) {
      dragging = true;
      ui.map.setPointerCapture(event.pointerId); // keep receiving moves when the pointer leaves the map
      moveToPointer(event);
    });
    ui.map.addEventListener("pointermove", function (event) { if (dragging) moveToPointer(event); });
    ["pointerup", "pointercancel"].forEach(function (type) {
      ui.map.addEventListener(type, function () { dragging = false; });
    });
    draw();
    window.latentExplorer = {
      state: state,
      data: { limit: data.limit, step: data.step, model: data.model },
      toPixel: scale.toPixel, // for the test: where on the map (CSS pixels) a z is drawn
      decode: function (z) { return Array.from(decode(layers, z)); },
    };
    mount.setAttribute("data-ready", "true");
  }

  // ------------------------------------------------------------------------------------------------ loading
  function mountPoint() {
    var mount = document.getElementById("latent-explorer");
    if (mount) return mount;
    // The page's title: the first <h1> of the article (the theme also prints a hidden, print-only <h1> before it;
    // a selector list would match in document order, hence one query after the other).
    var heading = document.querySelector("article h1") || document.querySelector("main h1") ||
      document.querySelector("h1");
    if (!heading) return null;
    mount = element("div", { id: "latent-explorer" });
    var intro = element("p", { class: "lx-intro" }, ["Live explorer, computed in your browser with no kernel: " +
      "the decoder of the shipped vae-mnist-z2 model (helpers/weights/vae-mnist-z2.pt, exported by " +
      "python -m book.export), the same one this notebook loads and decodes below. Drag z₁ and z₂, or click " +
      "or drag on the map."]);
    var section = element("div", { class: "lx-embedded" }, [intro, mount]);
    heading.after(section);
    return mount;
  }

  function fail(mount, message) {
    mount.replaceChildren(element("p", { class: "lx-error", role: "alert" }, [message]));
  }

  function load() {
    var mount = mountPoint();
    if (!mount) return;
    mount.textContent = "Loading the decoder…";
    var style = new URL("latent-explorer.css", folder || document.baseURI).href;
    var linked = Array.prototype.some.call(document.querySelectorAll("link[rel=stylesheet]"), function (link) {
      return link.href.split("?")[0] === style;
    });
    if (!linked) document.head.append(element("link", { rel: "stylesheet", href: style })); // the book links it
    var script = element("script", { src: folder + "explorer-data.js" });
    script.onload = function () {
      try {
        start(mount, window.VAE_EXPLORER_DATA);
      } catch (error) {
        fail(mount, "The explorer could not start: " + error.message);
        throw error;
      }
    };
    script.onerror = function () {
      fail(mount, "The explorer's data (explorer-data.js) is missing: build the book with `make book`.");
    };
    document.head.append(script);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", load);
  else load();
})();
