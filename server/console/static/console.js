// The flightmesh console. Every value from the server is put into the page with textContent or
// createTextNode, never innerHTML, so a product description or a column value is text, not markup.
"use strict";

(function () {
  const PAGE_ROWS = 100;   // rows shown per page of a result (the server sends at most 1000)
  const state = { csrf: null, products: [], result: null, page: 0, runId: null };
  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "text") node.textContent = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) node.append(child);
    return node;
  }

  const SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  async function api(method, name, body) {
    const headers = {};
    if (method === "POST") {
      headers["Content-Type"] = "application/json";
      if (state.csrf) headers["X-CSRF-Token"] = state.csrf;
    }
    const response = await fetch("/api/" + name, {
      method, headers, credentials: "same-origin",
      body: method === "POST" ? JSON.stringify(body || {}) : undefined,
    });
    const type = response.headers.get("Content-Type") || "";
    if (!type.startsWith("application/json")) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response;
    }
    const answer = await response.json();
    if (!response.ok) {
      const error = new Error(answer.error || ("HTTP " + response.status));
      error.kind = answer.kind; error.queryId = answer.query_id; error.status = response.status;
      throw error;
    }
    return answer;
  }

  // -- views -----------------------------------------------------------------------------------

  function show(view) {
    for (const id of ["login-view", "catalog-view", "query-view", "history-view"]) $(id).hidden = id !== view;
    for (const [button, id] of [["nav-catalog", "catalog-view"], ["nav-query", "query-view"], ["nav-history", "history-view"]]) {
      $(button).classList.toggle("active", id === view);
    }
  }

  function loggedIn(me) {
    state.csrf = me.csrf;
    $("whoami").textContent = me.user;
    $("nav").hidden = false;
    $("logout").hidden = false;
    show("catalog-view");
    loadCatalog();
  }

  function loggedOut() {
    state.csrf = null;
    $("whoami").textContent = "";
    $("nav").hidden = true;
    $("logout").hidden = true;
    show("login-view");
  }

  // -- login -----------------------------------------------------------------------------------

  // Two ways in: the mesh's user and password, or a token (JWT) from the mesh's identity provider.
  let loginMode = "password";
  function setLoginMode(mode) {
    loginMode = mode;
    for (const [tab, fields, name] of [["login-mode-password", "login-password-fields", "password"],
                                       ["login-mode-token", "login-token-fields", "token"]]) {
      $(tab).classList.toggle("active", name === mode);
      $(tab).setAttribute("aria-selected", String(name === mode));
      $(fields).hidden = name !== mode;
    }
    $("login-error").textContent = "";
  }
  $("login-mode-password").addEventListener("click", () => setLoginMode("password"));
  $("login-mode-token").addEventListener("click", () => setLoginMode("token"));

  $("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("login-error").textContent = "";
    const body = loginMode === "token" ? { jwt: $("login-token").value.trim() }
      : { user: $("login-user").value, password: $("login-password").value };
    if (loginMode === "token" ? !body.jwt : !body.user) {
      $("login-error").textContent = loginMode === "token" ? "Paste a token first." : "Enter a user name.";
      return;
    }
    try {
      const answer = await api("POST", "login", body);
      $("login-password").value = "";
      $("login-token").value = "";
      loggedIn({ user: answer.user, csrf: answer.csrf });
    } catch (error) {
      $("login-error").textContent = error.message;
    }
  });

  $("logout").addEventListener("click", async () => {
    try { await api("POST", "logout"); } finally { loggedOut(); }
  });

  // -- catalog ---------------------------------------------------------------------------------

  async function loadCatalog() {
    try {
      const answer = await api("GET", "catalog");
      state.products = answer.products;
      renderProducts();
    } catch (error) {
      if (error.status === 401) loggedOut();
      else $("product-detail").textContent = error.message;
    }
  }

  function searchable(product) {
    const parts = [product.product, product.domain, product.owner, product.description, product.tags];
    for (const table of product.tables) {
      parts.push(table.table_name, table.description, table.tags);
      for (const column of table.columns) parts.push(column.column_name, column.description, column.tags);
    }
    return parts.filter((p) => p).join(" ").toLowerCase();
  }

  function renderProducts() {
    const words = $("catalog-search").value.toLowerCase().split(/\s+/).filter((w) => w);
    const list = $("product-list");
    list.replaceChildren();
    for (const product of state.products) {
      const text = searchable(product);
      if (!words.every((w) => text.includes(w))) continue;
      const item = el("li", { "data-product": product.product, tabindex: "0" },
        el("div", { class: "name", text: product.product }),
        el("div", { class: "meta", text: [product.domain, product.engine].filter((p) => p).join(" · ") }));
      item.addEventListener("click", () => showProduct(product, item));
      item.addEventListener("keydown", (e) => { if (e.key === "Enter") showProduct(product, item); });
      list.append(item);
    }
  }

  function tags(text) {
    const span = el("span");
    for (const tag of (text || "").split(", ").filter((t) => t)) span.append(el("span", { class: "tag", text: tag }));
    return span;
  }

  function showProduct(product, item) {
    for (const other of $("product-list").children) other.classList.toggle("selected", other === item);
    const detail = $("product-detail");
    detail.dataset.product = product.product;
    detail.replaceChildren(
      el("h2", { text: product.product }),
      el("p", { "data-testid": "product-description", text: product.description || "" }),
      el("p", { text: "Domain: " + (product.domain || "—") + " · Owner: " + (product.owner || "—") +
        " · Engine: " + (product.engine || "—") + (product.available === false ? " · UNAVAILABLE" : "") }),
      applies(product),
      tags(product.tags),
      el("section", { class: "status-box", "data-testid": "product-status" }, el("p", { class: "muted", text: "Loading the contract and quality checks…" })));
    loadStatus(product);
    for (const table of product.tables) {
      const head = el("tr", {}, el("th", { text: "column" }), el("th", { text: "type" }),
        el("th", { text: "description" }), el("th", { text: "tags" }));
      const body = el("tbody");
      for (const column of table.columns) {
        const name = el("td", { text: column.column_name });
        if (column.masked) name.append(" ", el("span", { class: "masked", text: "masked for you" }));
        body.append(el("tr", { "data-column": column.column_name }, name, el("td", { text: column.data_type }),
          el("td", { text: column.description || "" }), el("td", {}, tags(column.tags))));
      }
      detail.append(
        el("h3", { "data-table": table.table_name, text: product.product + "." + table.table_name }),
        el("p", { text: (table.description || "") + (table.row_estimate != null ? "  (about " + table.row_estimate + " rows)" : "") }),
        el("table", {}, el("thead", {}, head), body));
    }
  }

  // What applies to the viewer, from mesh.my_access: policies by name only (their SQL is not shown).
  function applies(product) {
    const box = el("section", { class: "access", "data-testid": "product-access", "data-access": product.access_kind || "" },
      el("p", { text: "For you: " + (product.access || "—") }));
    if (product.access_kind === "privacy mode") {
      box.prepend(el("span", { class: "privacy-mark", "data-testid": "privacy-mark", text: "privacy mode" }));
    }
    const list = el("ul");
    if (product.row_filters) list.append(el("li", { "data-testid": "applied-row-filters", text: "Row filters: " + product.row_filters }));
    if (product.masked_columns) list.append(el("li", { "data-testid": "applied-masks", text: "Masked columns: " + product.masked_columns }));
    if (list.children.length) box.append(list);
    return box;
  }

  // The product's status: fetched per product, so a failure here leaves the rest of the page working.
  async function loadStatus(product) {
    let answer;
    try {
      answer = await api("GET", "status?product=" + encodeURIComponent(product.product));
    } catch (error) {
      if (error.status === 401) { loggedOut(); return; }
      answer = { error: error.message };
    }
    const box = $("product-detail").querySelector("[data-testid=product-status]");
    if (!box || $("product-detail").dataset.product !== product.product) return;  // another product is shown now
    box.replaceChildren(...statusParts(answer));
  }

  function failure(what, part) {
    return el("p", { class: "error", "data-testid": "status-error", text: what + " could not be read: " + part.error });
  }

  function when(value) {
    return value ? String(value).replace("T", " ").replace(/\.\d+/, "").replace("+00:00", " UTC") : "—";
  }

  function statusParts(answer) {
    if (answer.error) return [failure("The product's status", answer)];
    const parts = [];
    const privacy = answer.privacy;
    if (privacy && privacy.error) parts.push(failure("Your privacy budget", privacy));
    else if (privacy) {
      parts.push(el("p", { class: "budget", "data-testid": "privacy-budget", "data-remaining": String(privacy.remaining),
        "data-resets-at": privacy.resets_at || "" },
        el("strong", { text: "Privacy budget: " }),
        document.createTextNode(privacy.remaining + " of " + privacy.budget + " epsilon left this " + privacy.per +
          " (" + privacy.queries_left + " queries at " + privacy.epsilon_per_query + " each); resets " +
          (privacy.resets_at ? when(privacy.resets_at) : "never"))));
    }
    const contracts = answer.contracts;
    if (contracts && contracts.error) parts.push(failure("The data contract", contracts));
    else if (contracts && contracts.length) {
      const first = contracts[0];
      parts.push(el("h3", { text: "Data contract" }), el("p", { "data-testid": "contract-status",
        "data-status": first.contract_status || "" },
        document.createTextNode([first.contract_name || first.contract_id, first.contract_version ? "version " + first.contract_version : "",
          first.contract_status, first.enforced ? "enforced" : "not enforced", first.owner ? "owner " + first.owner : ""]
          .filter((p) => p).join(" · "))));
      const rows = el("tbody");
      for (const c of contracts) {
        rows.append(el("tr", { "data-contract-table": c.table_name, "data-schema-status": c.schema_status },
          el("td", { text: c.table_name }), el("td", { class: "st-" + c.schema_status, text: c.schema_status }),
          el("td", { text: c.drift || "" }), el("td", { text: c.failing + " of " + c.rules }), el("td", { text: when(c.checked_at) })));
      }
      parts.push(el("table", { "data-testid": "contract-tables" }, el("thead", {}, el("tr", {},
        ...["table", "schema", "drift", "checks failing", "last checked"].map((t) => el("th", { text: t })))), rows));
    } else if (contracts) {
      parts.push(el("p", { class: "muted", "data-testid": "contract-status", "data-status": "none", text: "No data contract for you to see." }));
    }
    const quality = answer.quality;
    if (quality && quality.error) parts.push(failure("The quality checks", quality));
    else if (quality && quality.length) {
      const rows = el("tbody");
      for (const q of quality) {
        rows.append(el("tr", { "data-rule": q.rule, "data-check-status": q.status },
          el("td", { text: q.table_name + (q.column_name ? "." + q.column_name : "") }), el("td", { text: q.rule }),
          el("td", { text: q.kind }), el("td", { text: q.threshold || "" }),
          el("td", { class: "st-" + q.status, text: q.status }),
          el("td", { text: q.measured === null || q.measured === undefined ? "" : String(q.measured) }),
          el("td", { text: q.detail || "" }), el("td", { text: when(q.checked_at) })));
      }
      parts.push(el("h3", { text: "Quality checks" }), el("div", { class: "scroll" }, el("table", { "data-testid": "quality-checks" },
        el("thead", {}, el("tr", {}, ...["on", "rule", "kind", "threshold", "status", "measured", "detail", "when"]
          .map((t) => el("th", { text: t })))), rows)));
    }
    return parts;
  }

  $("catalog-search").addEventListener("input", renderProducts);

  // -- query -----------------------------------------------------------------------------------

  function newRunId() {
    const bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function busy(running) {
    for (const id of ["run-query", "explain-query", "explain-analyze", "export-csv", "export-parquet"]) $(id).disabled = running;
    $("cancel-query").disabled = !running;
  }

  function showError(error) {
    const box = $("query-error");
    box.replaceChildren(el("strong", { text: (error.kind || "Error") + ": " }), document.createTextNode(error.message));
    if (error.status === 401) loggedOut();
    box.hidden = false;
  }

  async function run(kind) {
    const sql = $("sql-editor").value;
    const explain = kind !== "query" || /^\s*explain\b/i.test(sql);
    $("query-error").hidden = true;
    $("query-status").textContent = "running…";
    state.runId = newRunId();
    busy(true);
    try {
      const answer = kind === "query" && !explain
        ? await api("POST", "query", { sql, run_id: state.runId, cap: 1000 })
        : await api("POST", "explain", { sql, run_id: state.runId, analyze: kind === "analyze" });
      const rows = explain ? "plan of " + answer.rows.length + " steps"
        : answer.rows.length + (answer.truncated ? "+ rows (the first " + answer.rows.length + " shown)" : " rows");
      $("query-status").textContent = rows + " in " + answer.ms + " ms · query " + answer.query_id;
      if (explain) { $("result").hidden = true; drawPlan(answer); } else { $("plan").hidden = true; showResult(answer); }
    } catch (error) {
      $("query-status").textContent = "";
      showError(error);
    } finally {
      state.runId = null;
      busy(false);
    }
  }

  function showResult(answer) {
    state.result = answer;
    state.page = 0;
    $("result").hidden = false;
    renderPage();
  }

  function renderPage() {
    const answer = state.result;
    const table = $("result-table");
    const head = el("tr");
    for (const column of answer.columns) head.append(el("th", { title: column.type, text: column.name }));
    const body = el("tbody");
    const first = state.page * PAGE_ROWS;
    for (const row of answer.rows.slice(first, first + PAGE_ROWS)) {
      const tr = el("tr");
      for (const value of row) {
        const shown = value === null ? "NULL" : (typeof value === "object" ? JSON.stringify(value) : String(value));
        tr.append(el("td", value === null ? { class: "null", text: shown } : { text: shown }));
      }
      body.append(tr);
    }
    table.replaceChildren(el("thead", {}, head), body);
    const pages = Math.max(1, Math.ceil(answer.rows.length / PAGE_ROWS));
    $("page-info").textContent = "page " + (state.page + 1) + " of " + pages;
    $("page-prev").disabled = state.page === 0;
    $("page-next").disabled = state.page + 1 >= pages;
  }

  $("page-prev").addEventListener("click", () => { state.page -= 1; renderPage(); });
  $("page-next").addEventListener("click", () => { state.page += 1; renderPage(); });

  // -- the plan as a picture --------------------------------------------------------------------

  function drawPlan(answer) {
    const names = answer.columns.map((c) => c.name);
    const steps = answer.rows.map((row) => Object.fromEntries(names.map((n, i) => [n, row[i]])));
    const fragments = steps.filter((s) => s.kind === "fragment");
    const residual = steps.find((s) => s.kind === "residual");
    const filters = steps.filter((s) => s.kind === "dynamic filter");
    const policies = steps.filter((s) => s.kind === "policy");
    const notes = steps.filter((s) => s.kind === "note" || s.kind === "planning");
    const W = 220, H = 78, GAP = 30;
    const width = Math.max(1, fragments.length) * (W + GAP) + GAP;
    const height = residual ? 2 * H + 140 : H + 80;
    const graph = svg("svg", { width, height, viewBox: "0 0 " + width + " " + height, role: "img" });
    graph.append(svg("title", {}, "query plan"));
    const places = {};
    fragments.forEach((step, i) => { places[step.name] = { x: GAP + i * (W + GAP), y: 40 }; });
    const merge = { x: Math.max(GAP, width / 2 - W / 2), y: 40 + H + 80 };
    if (residual) {
      for (const step of fragments) {
        const p = places[step.name];
        graph.append(svg("line", { class: "data", x1: p.x + W / 2, y1: p.y + H, x2: merge.x + W / 2, y2: merge.y }));
      }
    }
    for (const filter of filters) {  // build side's keys narrow the probe side: a dashed edge between them
      const build = /IN keys of ([^.\s]+)\./.exec(filter.detail || "");
      const from = build && places[build[1]], to = places[filter.name];
      if (!from || !to) continue;
      const edge = svg("line", { class: "filter", "data-filter": filter.name, x1: from.x + W / 2, y1: from.y - 6,
        x2: to.x + W / 2, y2: to.y - 6 });
      edge.append(svg("title", {}, "dynamic filter: " + filter.detail));
      graph.append(edge);
      graph.append(svg("text", { class: "small", x: (from.x + to.x + W) / 2, y: 20, "text-anchor": "middle" }, "dynamic filter"));
    }
    const node = (step, at, cls, engine, title) => {
      const g = svg("g", { class: "node " + cls, "data-engine": engine, "data-step": step.name, tabindex: "0",
        transform: "translate(" + at.x + "," + at.y + ")" });
      g.append(svg("rect", { width: W, height: H, rx: 6 }));
      g.append(svg("text", { x: 10, y: 18 }, title));
      g.append(svg("text", { x: 10, y: 36 }, "engine: " + (step.engine || "")));
      const counts = (step.rows != null ? step.rows + " rows" : (step.detail || "")) + (step.ms != null ? " · " + step.ms + " ms" : "");
      g.append(svg("text", { class: "small", x: 10, y: 54 }, counts));
      const applied = policies.filter((p) => p.name === step.name).map((p) => p.detail);
      if (applied.length) g.append(svg("text", { class: "small", x: 10, y: 70 }, applied.join("; ")));
      const select = () => {
        for (const other of graph.querySelectorAll(".node")) other.classList.toggle("selected", other === g);
        $("plan-sql").textContent = step.sql || "";
      };
      g.addEventListener("click", select);
      g.addEventListener("keydown", (e) => { if (e.key === "Enter") select(); });
      graph.append(g);
    };
    for (const step of fragments) {
      node(step, places[step.name], "fragment", String(step.engine || "").split(" ")[0], step.name + " · " + (step.products || ""));
    }
    // The residual runs in the merge engine ("duckdb (merge)"): its node carries that engine's kind.
    if (residual) node(residual, merge, "residual", String(residual.engine || "").split(" ")[0], "residual (merge)");
    const footer = notes.map((n) => n.kind === "planning" ? "planning " + n.ms + " ms" : n.detail).filter((t) => t);
    if (footer.length) graph.append(svg("text", { class: "small", x: GAP, y: height - 10 }, footer.join(" · ")));
    $("plan-graph").replaceChildren(graph);
    $("plan-sql").textContent = "Select a node to see the SQL it sends.";
    $("plan").hidden = false;
  }

  $("run-query").addEventListener("click", () => run("query"));
  $("explain-query").addEventListener("click", () => run("explain"));
  $("explain-analyze").addEventListener("click", () => run("analyze"));
  $("sql-editor").addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) run("query"); });
  $("cancel-query").addEventListener("click", async () => {
    if (state.runId) {
      try { await api("POST", "cancel", { run_id: state.runId }); } catch (error) { showError(error); }
    }
  });

  async function exportAs(format) {
    $("query-error").hidden = true;
    busy(true);
    state.runId = newRunId();
    try {
      const response = await api("POST", "export", { sql: $("sql-editor").value, format, run_id: state.runId });
      const url = URL.createObjectURL(await response.blob());
      const link = el("a", { href: url, download: "result." + format });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (error) {
      showError(error);
    } finally {
      state.runId = null;
      busy(false);
    }
  }
  $("export-csv").addEventListener("click", () => exportAs("csv"));
  $("export-parquet").addEventListener("click", () => exportAs("parquet"));

  // -- history ---------------------------------------------------------------------------------

  function fill(table, rows, columns, action) {
    const head = el("tr");
    for (const c of columns) head.append(el("th", { text: c }));
    if (action) head.append(el("th", { text: "" }));
    const body = el("tbody");
    for (const row of rows) {
      const tr = el("tr");
      for (const c of columns) tr.append(el("td", { text: row[c] === null || row[c] === undefined ? "" : String(row[c]) }));
      if (action) tr.append(el("td", {}, action(row)));
      body.append(tr);
    }
    table.replaceChildren(el("thead", {}, head), body);
  }

  async function loadHistory() {
    try {
      const answer = await api("GET", "history");
      const pick = (rows, wanted) => rows.length ? Object.keys(rows[0]).filter((k) => wanted.includes(k)) : wanted;
      const wanted = ["query_id", "user", "user_name", "state", "outcome", "started_at", "elapsed_ms", "rows", "products", "sql", "error"];
      fill($("running-table"), answer.running, pick(answer.running, wanted), (row) => {
        const button = el("button", { type: "button", "data-kill": row.query_id, text: "Kill" });
        button.addEventListener("click", async () => {
          try { await api("POST", "kill", { query_id: row.query_id }); } catch (error) { alert(error.message); }
          loadHistory();
        });
        return button;
      });
      fill($("history-table"), answer.history, pick(answer.history, wanted));
    } catch (error) {
      if (error.status === 401) loggedOut();
    }
  }

  $("nav-catalog").addEventListener("click", () => { show("catalog-view"); loadCatalog(); });
  $("nav-query").addEventListener("click", () => show("query-view"));
  $("nav-history").addEventListener("click", () => { show("history-view"); loadHistory(); });

  // -- start: a session still open (the cookie) goes straight in --------------------------------
  api("GET", "me").then(loggedIn, loggedOut);
})();
