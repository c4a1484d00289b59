// The baseline a Smartpay user has today: the official Node SDK, one row after another —
// get the order, refund what its payments have left (the same work as bench/plain.py).
// Usage: node sdk_loop.cjs <sdkDir> <apiPrefix> <key> <rows.json>
// rows.json: [{"order_id": "...", "amount": "1200" or "", "reason": "...", "reference": "..."}]
const { createRequire } = require("module");
const fs = require("fs");
const [sdkDir, apiPrefix, secretKey, rowsPath] = process.argv.slice(2);
const load = createRequire(`${sdkDir}/package.json`);
const Smartpay = load("@smartpay/sdk-node").default ?? load("@smartpay/sdk-node");

function planRefunds(order, amountText) {
  const left = (order.payments || []).filter((p) => typeof p === "object").map((p) => [
    p.id, p.amount - (p.refunds || []).filter((r) => typeof r === "object")
      .reduce((sum, r) => sum + r.amount, 0),
  ]);
  const total = left.reduce((sum, [, yen]) => sum + yen, 0);
  let wanted = amountText.trim() === "" ? total : parseInt(amountText, 10);
  if (wanted <= 0 || wanted > total) return [];
  const plan = [];
  for (const [id, yen] of left) {
    const take = Math.min(yen, wanted);
    if (take > 0) { plan.push([id, take]); wanted -= take; }
    if (wanted === 0) break;
  }
  return plan;
}

(async () => {
  const smartpay = new Smartpay(secretKey, { apiPrefix });
  const rows = JSON.parse(fs.readFileSync(rowsPath, "utf8"));
  for (const [index, row] of rows.entries()) {
    const order = await smartpay.getOrder({ id: row.order_id, expand: "all" });
    for (const [payment, amount] of planRefunds(order, row.amount)) {
      await smartpay.createRefund({
        payment, amount, currency: "JPY", reason: row.reason || Smartpay.REFUND_REQUEST_BY_CUSTOMER,
        reference: row.reference || undefined, idempotencyKey: `sdk-${index}-${payment}`,
      }).catch((error) => { if (error?.statusCode !== 403) throw error; });
    }
  }
  console.log(`${rows.length} rows`);
})().catch((error) => { console.error(error); process.exit(1); });
