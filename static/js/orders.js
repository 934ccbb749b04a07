// Orders page: the live price. Asks the dashboard's price endpoint (the same pricing service
// the API and the order placement use) whenever the form changes; without JavaScript the
// "Calculate price" button shows the same figures from the server.
(function () {
  "use strict";
  var form = document.getElementById("order-form");
  if (!form || !window.fetch) { return; }
  var box = document.getElementById("order-price");
  var url = form.getAttribute("data-price-url");
  var timer = null;
  var seq = 0;
  var placeButton = form.querySelector('button[name="action"][value="place"]');
  var nothingToSell = placeButton && placeButton.disabled && !!document.getElementById("order-unavailable");
  var availabilityNode = document.getElementById("order-availability");
  var availability = availabilityNode ? JSON.parse(availabilityNode.textContent) : {};
  var balance = parseFloat(form.getAttribute("data-balance") || "0");

  function field(name) { return form.elements.namedItem(name); }

  // Amounts as the pages write them: two places, thousands separated ("1,234.50").
  function money(text) {
    var n = Number(text);
    return isFinite(n) ? n.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 }) : text;
  }

  function labelOf(name) {
    var el = field(name);
    var label = el && el.id ? form.querySelector('label[for="' + el.id + '"]') : null;
    return label ? label.textContent.trim() : name;
  }

  // Free proxies for the chosen type and country; null when the type is not sold from stock.
  function inStock() {
    var entry = availability[field("type").value];
    if (!entry || !entry.stock_backed) { return null; }
    var country = field("country").value;
    return country ? (entry.countries[country] || 0) : (entry.total || 0);
  }

  function selectedText(name) {
    var el = field(name);
    return el && el.selectedIndex >= 0 ? el.options[el.selectedIndex].text : "";
  }

  // Stock is said first: with both stock and balance short, topping up would not help.
  function stockOrBalanceNote(total) {
    var free = inStock();
    var wanted = parseInt(field("quantity").value, 10) || 0;
    var country = field("country").value;
    var where = country ? " in " + selectedText("country") : "";
    var typeName = selectedText("type").replace(/ \(per .*\)$/, "");
    if (free !== null && free < wanted) {
      var text = free === 0 ? typeName + " proxies" + where + " are out of stock."
        : "Only " + free.toLocaleString("en-US") + " " + typeName + (free === 1 ? " proxy is" : " proxies are") +
          " in stock" + where + "; you asked for " + wanted.toLocaleString("en-US") + ".";
      return { text: text, testid: "order-stock", blocks: true };
    }
    if (total !== null && balance < total) {
      return { text: "Your balance is " + money((total - balance).toFixed(2)) + " USD short of this price.", testid: "order-balance", link: true };
    }
    return null;
  }

  function setPlaceable(ok) {
    if (!placeButton || nothingToSell) { return; }
    placeButton.disabled = !ok;
  }

  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }

  function line(text, className, testid) {
    var p = document.createElement("p");
    if (className) { p.className = className; }
    if (testid) { p.setAttribute("data-testid", testid); }
    p.textContent = text;
    return p;
  }

  function syncPeriod() {
    var type = field("type").value;
    var period = field("period");
    var residential = type === "residential";
    Array.prototype.forEach.call(period.options, function (option) {
      if (option.value === "") { option.disabled = !residential; option.hidden = !residential; }
    });
    if (residential) { period.value = ""; }
    else if (period.value === "") {
      var firstDays = Array.prototype.filter.call(period.options, function (o) { return o.value !== ""; });
      var thirty = firstDays.filter(function (o) { return o.value === "30"; })[0] || firstDays[0];
      if (thirty) { period.value = thirty.value; }
    }
  }

  function show(data) {
    clear(box);
    if (data.ok) {
      var q = data.quote;
      var total = document.createElement("p");
      var strong = document.createElement("strong");
      strong.textContent = "Price: ";
      var span = document.createElement("span");
      span.setAttribute("data-testid", "order-total");
      span.textContent = money(q.total) + " " + q.currency;
      total.appendChild(strong);
      total.appendChild(span);
      box.appendChild(total);
      var detail = q.quantity + " × " + money(q.unit_price) + " " + q.currency + " = " + money(q.subtotal) + " " + q.currency;
      if (q.discount !== "0.00") { detail += ", discount −" + money(q.discount) + " " + q.currency; }
      box.appendChild(line(detail, "muted"));
      var note = stockOrBalanceNote(parseFloat(q.total));
      if (note) {
        var p = line(note.text + " ", "alert alert-warning", note.testid);
        if (note.link) {
          var a = document.createElement("a");
          a.href = form.getAttribute("data-billing-url");
          a.textContent = "Top up";
          p.appendChild(a);
        }
        box.appendChild(p);
      }
      setPlaceable(!(note && note.blocks));
    } else {
      var messages = [];
      Object.keys(data.fields || {}).forEach(function (name) {
        messages.push(labelOf(name) + ": " + data.fields[name].join(" "));
      });
      box.appendChild(line(messages.join(" ") || "This order cannot be priced.", "field-error", "order-price-error"));
      setPlaceable(true);  // the server says what is wrong when the order is placed
    }
  }

  function update() {
    var params = new URLSearchParams();
    ["type", "quantity", "period", "country"].forEach(function (name) {
      var el = field(name);
      if (el && el.value !== "") { params.set(name, el.value); }
    });
    var mine = ++seq;
    fetch(url + "?" + params.toString(), { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (data) { if (mine === seq) { show(data); } })
      .catch(function () { /* the Calculate price button still works */ });
  }

  function schedule() {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(update, 200);
  }

  field("type").addEventListener("change", function () { syncPeriod(); schedule(); });
  ["quantity", "period", "country"].forEach(function (name) {
    field(name).addEventListener("input", schedule);
    field(name).addEventListener("change", schedule);
  });
  syncPeriod();
  update();
})();
