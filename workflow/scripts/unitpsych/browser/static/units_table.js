// The unit table of a model page: filters, sorting and paging over column arrays
// (window.UNIT_DATA, written by the browser rule). Only one page of rows is ever in the DOM,
// so 40,000+ units stay responsive.
"use strict";

const UnitTable = (() => {
  const state = { key: null, descending: false, page: 0, order: [] };

  function value(data, key, i) {
    return key === "layer" ? data.layer[i] * 1e6 + data.channel[i] : data[key][i];
  }

  function filtered(data) {
    const layer = document.getElementById("f-layer").value;
    const lo = parseFloat(document.getElementById("f-min").value);
    const hi = parseFloat(document.getElementById("f-max").value);
    const acc = parseFloat(document.getElementById("f-acc").value);
    const responses = document.getElementById("f-responses").value;
    const sampled = document.getElementById("f-sampled").checked;
    const withPage = document.getElementById("f-page").checked;
    const rows = [];
    for (let i = 0; i < data.unit.length; i++) {
      if (layer !== "" && data.layer[i] !== Number(layer)) continue;
      const s = data.score[i];
      if (!Number.isNaN(lo) && !(s !== null && s >= lo)) continue;
      if (!Number.isNaN(hi) && !(s !== null && s <= hi)) continue;
      if (!Number.isNaN(acc) && !(data.accuracy[i] !== null && data.accuracy[i] >= acc)) continue;
      if (responses !== "" && data[responses][i] === null) continue;
      if (sampled && !data.sampled[i]) continue;
      if (withPage && !data.page[i]) continue;
      rows.push(i);
    }
    return rows;
  }

  function sorted(data, rows) {
    if (state.key === null) return rows;
    const sign = state.descending ? -1 : 1;
    return rows.sort((a, b) => {
      const va = value(data, state.key, a);
      const vb = value(data, state.key, b);
      if (va === null || vb === null) return (va === null) - (vb === null) || a - b;
      return sign * (va - vb) || a - b;
    });
  }

  function cell(text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  }

  function fmt(v) {
    return v === null ? "—" : v.toFixed(3);
  }

  function row(data, i) {
    const tr = document.createElement("tr");
    const name = document.createElement("td");
    name.textContent = data.layers[data.layer[i]];
    tr.appendChild(name);
    const ch = document.createElement("td");
    if (data.page[i]) {
      const a = document.createElement("a");
      a.href = data.page[i];
      a.textContent = data.channel[i];
      a.className = "unit-link";
      ch.appendChild(a);
    } else {
      ch.textContent = data.channel[i];
    }
    tr.appendChild(ch);
    for (const key of ["score", "accuracy", "human", "simulated"]) tr.appendChild(cell(fmt(data[key][i]), "num"));
    tr.appendChild(cell(data.sampled[i] ? "yes" : "no"));
    tr.dataset.unit = data.unit[i];
    return tr;
  }

  function render(data, size) {
    const pages = Math.max(1, Math.ceil(state.order.length / size));
    state.page = Math.min(Math.max(state.page, 0), pages - 1);
    const body = document.querySelector("#units tbody");
    const start = state.page * size;
    body.replaceChildren(...state.order.slice(start, start + size).map((i) => row(data, i)));
    document.getElementById("count").textContent =
      `${state.order.length} of ${data.unit.length} units`;
    document.getElementById("pageinfo").textContent = `page ${state.page + 1} of ${pages}`;
    for (const th of document.querySelectorAll("#units th")) {
      th.classList.toggle("sorted", th.dataset.key === state.key);
      th.classList.toggle("descending", th.dataset.key === state.key && state.descending);
    }
  }

  function refresh(data, size) {
    state.order = sorted(data, filtered(data));
    state.page = 0;
    render(data, size);
  }

  function mount(data, size) {
    for (const th of document.querySelectorAll("#units th")) {
      th.addEventListener("click", () => {
        state.descending = state.key === th.dataset.key ? !state.descending : false;
        state.key = th.dataset.key;
        refresh(data, size);
      });
    }
    for (const el of document.querySelectorAll("#filters input, #filters select")) {
      el.addEventListener("input", () => refresh(data, size));
    }
    document.getElementById("prev").addEventListener("click", () => { state.page--; render(data, size); });
    document.getElementById("next").addEventListener("click", () => { state.page++; render(data, size); });
    refresh(data, size);
  }

  return { mount };
})();
