// Proxies page: cascading country → state → city pickers. Without this file the form still
// works with a plain country select and text inputs, validated by the server.
(function () {
  "use strict";

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : { items: [] }; })
      .catch(function () { return { items: [] }; });
  }

  function option(value, label, selected) {
    var o = document.createElement("option");
    o.value = value; o.textContent = label; if (selected) { o.selected = true; }
    return o;
  }

  function enhance(form) {
    var statesUrl = form.getAttribute("data-geo-states-url");
    var citiesUrl = form.getAttribute("data-geo-cities-url");
    var country = form.querySelector("[data-geo-country]");
    var state = form.querySelector("[data-geo-state]");
    var city = form.querySelector("[data-geo-city]");
    var list = form.querySelector("datalist");
    if (!country || !state || !city || !list) { return; }
    var cityTimer = null;

    function stateValue() { return state.value || ""; }

    function loadCities(q) {
      list.innerHTML = "";
      if (!country.value) { return; }
      var params = new URLSearchParams({ country: country.value });
      if (stateValue()) { params.set("state", stateValue()); }
      if (q) { params.set("q", q); }
      getJSON(citiesUrl + "?" + params.toString()).then(function (data) {
        list.innerHTML = "";
        (data.items || []).forEach(function (c) { list.appendChild(option(c.name, c.name + (c.state ? " (" + c.state + ")" : ""))); });
      });
    }

    function loadStates() {
      var current = stateValue().toUpperCase();
      if (!country.value) {
        swapState(null, current);
        loadCities();
        return;
      }
      getJSON(statesUrl + "?country=" + encodeURIComponent(country.value)).then(function (data) {
        swapState(data.items || [], current);
        loadCities();
      });
    }

    // Replaces the state text input by a select of the country's states (same id and name, so
    // its label still points at it), or back to a text input when there is no list.
    function swapState(items, current) {
      var next;
      if (items && items.length) {
        next = document.createElement("select");
        next.appendChild(option("", "Any state / region", !current));
        items.forEach(function (s) {
          var full = country.value + "-" + s.code;
          next.appendChild(option(s.code, s.name + " (" + s.code + ")", current === s.code || current === full));
        });
      } else {
        next = document.createElement("input");
        next.type = "text"; next.value = items ? "" : current; next.autocomplete = "off";
      }
      next.id = state.id; next.name = state.name; next.setAttribute("data-geo-state", "");
      var described = state.getAttribute("aria-describedby");
      if (described) { next.setAttribute("aria-describedby", described); }
      state.replaceWith(next);
      state = next;
      state.addEventListener("change", function () { city.value = ""; loadCities(); });
    }

    country.addEventListener("change", function () { city.value = ""; loadStates(); });
    city.addEventListener("input", function () {
      clearTimeout(cityTimer);
      cityTimer = setTimeout(function () { loadCities(city.value.trim()); }, 250);
    });
    if (country.value) { loadStates(); }
  }

  document.querySelectorAll("form[data-geo-states-url]").forEach(enhance);
})();
