// Billing page: offer only the networks the chosen currency is available on.
(function () {
  "use strict";
  var NETWORKS = { BTC: ["BTC"], LTC: ["LTC"], ETH: ["ERC20"], USDT: ["ERC20", "TRC20"] };
  var form = document.getElementById("new-address-form");
  if (!form) { return; }
  var currency = form.querySelector("select[name=currency]");
  var network = form.querySelector("select[name=network]");
  if (!currency || !network) { return; }
  function sync() {
    var allowed = NETWORKS[currency.value] || [];
    var needsChoice = allowed.length > 1;
    Array.prototype.forEach.call(network.options, function (option) {
      var ok = option.value === "" ? !needsChoice : allowed.indexOf(option.value) !== -1;
      option.hidden = !ok;
      option.disabled = !ok;
    });
    var current = network.options[network.selectedIndex];
    if (!current || current.disabled) {
      network.value = needsChoice ? allowed[0] : "";
    }
  }
  currency.addEventListener("change", sync);
  sync();
})();
