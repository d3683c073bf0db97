// node --test web/test: which symbols the signal chart offers, and in what order.
import { test } from "node:test";
import assert from "node:assert/strict";
import { chartSymbols, symbolOf } from "../src/chart.js";

test("a subscription names a symbol when it has one", () => {
  assert.equal(symbolOf("bars.BTC-USD"), "BTC-USD");
  assert.equal(symbolOf("trades.binance.BTC-USDT"), "BTC-USDT");
  assert.equal(symbolOf("trades"), undefined);
  assert.equal(symbolOf("quotes.coinbase"), undefined);
});

test("the first symbol stays first whatever the newest signal is for", () => {
  const subs = ["bars.ETH-USD", "trades.BTC-USD", "bars.BTC-USD"];
  const newestEth = [{ symbol: "ETH-USD" }, { symbol: "BTC-USD" }];
  const newestBtc = [{ symbol: "BTC-USD" }, { symbol: "ETH-USD" }];
  assert.deepEqual(chartSymbols(subs, newestEth), ["ETH-USD", "BTC-USD"]);
  assert.deepEqual(chartSymbols(subs, newestBtc), ["ETH-USD", "BTC-USD"]);
});

test("symbols only signals name come after the subscribed ones, sorted", () => {
  assert.deepEqual(chartSymbols(["trades"], [{ symbol: "SOL-USD" }, { symbol: "ADA-USD" }, {}]), ["ADA-USD", "SOL-USD"]);
  assert.deepEqual(chartSymbols(["bars.XRP-USD"], [{ symbol: "ADA-USD" }]), ["XRP-USD", "ADA-USD"]);
  assert.deepEqual(chartSymbols([], []), []);
});
