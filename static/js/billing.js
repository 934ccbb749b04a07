// Billing page: offer only the networks the chosen currency is available on. A currency with
// several networks (USDT) gets no default: the customer picks one, as the API requires.
(function () {
  "use strict";
  var NETWORKS = { BTC: ["BTC"], LTC: ["LTC"], ETH: ["ERC20"], USDT: ["ERC20", "TRC20"] };
  var form = document.getElementById("new-address-form");
  if (!form) { return; }
  var currency = form.querySelector("select[name=currency]");
  var network = form.querySelector("select[name=network]");
  if (!currency || !network) { return; }
  var blank = network.querySelector("option[value='']");
  var blankText = blank ? blank.textContent : "";
  function sync() {
    var allowed = NETWORKS[currency.value] || [];
    var needsChoice = allowed.length > 1;
    Array.prototype.forEach.call(network.options, function (option) {
      var ok = option.value === "" || allowed.indexOf(option.value) !== -1;
      option.hidden = !ok;
      option.disabled = !ok || (option.value === "" && needsChoice);
    });
    if (blank) { blank.textContent = needsChoice ? "Choose a network" : blankText; }
    network.required = needsChoice;
    var current = network.options[network.selectedIndex];
    if (!current || (current.disabled && current.value !== "")) {
      network.value = "";
    }
  }
  currency.addEventListener("change", sync);
  sync();
})();
