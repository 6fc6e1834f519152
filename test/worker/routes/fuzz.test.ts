import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { isErrorCode } from "../../../protocol/errors.ts";
import { isValidName } from "../../../protocol/names.ts";
import {
  adminPost,
  createRelay,
  createUserWithParties,
  postSigned,
  reportLoad,
  type Signer,
  signAs,
} from "../support/fixtures.ts";

const RUNS = 40;

/** Any refusal must be a 4xx with a known code: a 500 on client input is a bug. */
async function expectClientError(res: Response): Promise<void> {
  const body = (await res.json()) as { code?: unknown };
  expect(res.status, JSON.stringify(body)).toBeGreaterThanOrEqual(400);
  expect(res.status, JSON.stringify(body)).toBeLessThan(500);
  expect(isErrorCode(body.code)).toBe(true);
}

describe("hostile input never reaches a 500", () => {
  let party: Signer;

  beforeAll(async () => {
    [party] = await createUserWithParties("fuzz", "a", "b");
    await reportLoad(await createRelay("fuzz-relay"));
  });

  it("user names: 201 exactly for valid names, else 400 INVALID_NAME", async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 80 }), async (name) => {
        const res = await adminPost("/v1/users", { name: `z${name}` });
        if (isValidName(`z${name}`)) {
          expect([201, 409]).toContain(res.status);
          await res.body?.cancel();
        } else {
          expect(res.status).toBe(400);
          expect(((await res.json()) as { code: string }).code).toBe("INVALID_NAME");
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("party registrations with arbitrary JSON bodies", async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), async (body) => {
        const res = await adminPost("/v1/users/fuzz/parties", body);
        await expectClientError(res);
      }),
      { numRuns: RUNS },
    );
  });

  it("ticket requests with arbitrary bytes as the JWS", async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 400 }), async (jws) => {
        await expectClientError(await postSigned("/v1/tickets", jws));
      }),
      { numRuns: RUNS },
    );
  });

  it("validly signed ticket requests with arbitrary bodies", async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue({ maxDepth: 3 }), async (body) => {
        const res = await postSigned("/v1/tickets", await signAs(party, "/v1/tickets", body));
        if (res.status === 200) {
          // Only {dest: "b", channel?} can succeed.
          expect(body).toMatchObject({ dest: "b" });
          await res.body?.cancel();
        } else {
          await expectClientError(res);
        }
      }),
      { numRuns: RUNS },
    );
  });
});
