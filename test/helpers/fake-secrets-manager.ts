import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

/**
 * A stand-in for `@aws-sdk/client-secrets-manager`, which Lambda's Node.js runtime provides
 * and this machine cannot reach: the same two classes and `send` shape, answering
 * GetSecretValue from `secrets` (SecretId → SecretString) and failing as AWS does for an
 * unknown id. Installed into `dir/node_modules`, where the handler's import finds it.
 */
export async function installFakeSecretsManager(dir: string, secrets: Record<string, string>): Promise<void> {
  const root = join(dir, "node_modules", "@aws-sdk", "client-secrets-manager");
  await mkdir(root, { recursive: true });
  await writeFile(
    join(root, "package.json"),
    JSON.stringify({ name: "@aws-sdk/client-secrets-manager", type: "module", exports: "./index.js" }),
  );
  await writeFile(
    join(root, "index.js"),
    `const secrets = ${JSON.stringify(secrets)};
export class GetSecretValueCommand {
  constructor(input) { this.input = input; }
}
export class SecretsManagerClient {
  async send(command) {
    if (!(command instanceof GetSecretValueCommand)) throw new Error("unexpected command");
    const value = secrets[command.input.SecretId];
    if (value === undefined) {
      throw Object.assign(new Error("Secrets Manager can't find the specified secret."), { name: "ResourceNotFoundException" });
    }
    return { Name: command.input.SecretId, SecretString: value };
  }
}
`,
  );
}
