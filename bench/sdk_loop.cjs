// The baseline a Smartpay user has today: the official Node SDK, one order after another
// (get the order, refund its payment). Usage: node sdk_loop.cjs <sdkDir> <apiPrefix> <key> <orderIds...>
const { createRequire } = require("module");
const [sdkDir, apiPrefix, secretKey, ...orderIds] = process.argv.slice(2);
const Smartpay = createRequire(`${sdkDir}/package.json`)("@smartpay/sdk-node").default
  ?? createRequire(`${sdkDir}/package.json`)("@smartpay/sdk-node");

(async () => {
  const smartpay = new Smartpay(secretKey, { apiPrefix });
  for (const id of orderIds) {
    const order = await smartpay.getOrder({ id, expand: "all" });
    await smartpay.createRefund({
      payment: order.payments[0].id, amount: 100, currency: "JPY",
      reason: Smartpay.REFUND_REQUEST_BY_CUSTOMER, idempotencyKey: `bench-${id}`,
    });
  }
})().catch((error) => { console.error(error); process.exit(1); });
