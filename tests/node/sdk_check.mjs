// Drives the official Smartpay Node SDK against a sandbox and prints what happened as JSON.
// Usage: node sdk_check.mjs <apiPrefix> <secretKey> <orderId> <paymentId>
import Smartpay from "@smartpay/sdk-node";

const [apiPrefix, secretKey, orderId, paymentId] = process.argv.slice(2);
const smartpay = new Smartpay(secretKey, { apiPrefix });

const refundParams = {
  payment: paymentId,
  amount: 1000,
  currency: "JPY",
  reason: Smartpay.REFUND_REQUEST_BY_CUSTOMER,
  reference: "RET-000001",
  description: "返品",
  idempotencyKey: "node-sdk-row-1",
};

const order = await smartpay.getOrder({ id: orderId, expand: "all" });
const refund = await smartpay.createRefund(refundParams);
const replay = await smartpay.createRefund(refundParams);
const fetched = await smartpay.getRefund({ id: refund.id });
const listed = await smartpay.listRefunds({ maxResults: 10 });

let overRefund = null;
try {
  await smartpay.createRefund({ ...refundParams, amount: 10_000_000, idempotencyKey: "node-over" });
} catch (error) {
  overRefund = { name: error.name, statusCode: error.statusCode, errorCode: error.errorCode };
}

console.log(
  JSON.stringify({
    order: { id: order.id, amount: order.amount, payments: order.payments.map((p) => p.id) },
    refund: { id: refund.id, amount: refund.amount, reference: refund.reference },
    replayId: replay.id,
    fetchedId: fetched.id,
    listedIds: listed.data.map((r) => r.id),
    overRefund,
  }),
);
