// An AWS Lambda function (Node.js 20 runtime) that talks to its peer party through Flock.
// Deployed as a zip of this file and the SDK's single-file bundle (zip.sh); see
// docs/platforms/aws-lambda.md for the commands.
import { connect } from "./flock-client.mjs";

/** Time kept for reading the peer's answer once the channel is up. */
const ANSWER_MARGIN_MS = 2_000;

/**
 * The party's identity is the FLOCK_PARTY bundle. Lambda's environment holds 4 KB in all,
 * less than a bundle, so it lives in Secrets Manager (FLOCK_PARTY_SECRET_ID) and is read
 * once per cold start with the AWS SDK the runtime ships; FLOCK_PARTY set directly (a
 * local run, a test) wins.
 */
async function loadIdentityOnce() {
  if (process.env.FLOCK_PARTY || !process.env.FLOCK_PARTY_SECRET_ID) return;
  const { SecretsManagerClient, GetSecretValueCommand } = await import("@aws-sdk/client-secrets-manager");
  const secret = await new SecretsManagerClient({}).send(
    new GetSecretValueCommand({ SecretId: process.env.FLOCK_PARTY_SECRET_ID }),
  );
  process.env.FLOCK_PARTY = secret.SecretString;
}

function readAll(socket) {
  return new Promise((resolve, reject) => {
    let text = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk) => {
      text += chunk;
    });
    socket.once("end", () => resolve(text));
    socket.once("error", reject);
  });
}

/** Sends the event's message to the peer (DEST, or event.dest) and returns the peer's answer. */
export async function handler(event = {}, context) {
  await loadIdentityOnce();
  const deadlineMs = Math.max(1_000, context.getRemainingTimeInMillis() - ANSWER_MARGIN_MS);
  const socket = await connect({ deadlineMs, ...(event.dest ? { dest: event.dest } : {}) });
  const answer = readAll(socket);
  socket.end(JSON.stringify({ requestId: context.awsRequestId, message: event.message ?? "hello" }));
  return { statusCode: 200, body: await answer };
}
