// A real CIMD-capable MCP client: the TypeScript MCP SDK's client auth with `clientMetadataUrl`
// (tests/e2e/tests/oauth_cimd.rs drives it). Arguments: the MCP URL, the client id URL (its
// metadata document), the redirect URI the document lists.
//
// Protocol on stdio, one JSON object per line: the script prints {"authorize": URL} when the SDK
// sends the user to the authorization endpoint; the test completes the browser part and writes
// {"code": CODE} back; the script finishes the sign-in, lists the tools, calls getRecords and
// prints {"client_id": …, "tools": N, "call_is_error": bool}.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
import readline from "node:readline";

const [mcpUrl, clientMetadataUrl, redirectUri] = process.argv.slice(2);
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const say = (value) => process.stdout.write(JSON.stringify(value) + "\n");

let clientInformation;
let tokens;
let codeVerifier;
const provider = {
  clientMetadataUrl,
  get redirectUrl() {
    return redirectUri;
  },
  get clientMetadata() {
    return {
      client_name: "MCP TypeScript SDK (CIMD)",
      redirect_uris: [redirectUri],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    };
  },
  clientInformation: () => clientInformation,
  saveClientInformation: (info) => {
    clientInformation = info;
  },
  tokens: () => tokens,
  saveTokens: (t) => {
    tokens = t;
  },
  redirectToAuthorization: (url) => say({ authorize: url.toString() }),
  saveCodeVerifier: (v) => {
    codeVerifier = v;
  },
  codeVerifier: () => codeVerifier,
};

const connect = async () => {
  const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider });
  const client = new Client({ name: "cimd-e2e", version: "1.0.0" });
  await client.connect(transport);
  return { client, transport };
};

try {
  try {
    await connect();
    throw new Error("connected without signing in");
  } catch (e) {
    if (!(e instanceof UnauthorizedError)) throw e;
  }
  const reply = JSON.parse((await lines.next()).value);
  const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider });
  await transport.finishAuth(reply.code);
  const { client } = await connect();
  const { tools } = await client.listTools();
  const call = await client.callTool({ name: "getRecords", arguments: { appId: 1, limit: 1 } });
  say({ client_id: clientInformation?.client_id, tools: tools.length, call_is_error: call.isError === true });
  await client.close();
  process.exit(0);
} catch (e) {
  say({ error: String(e?.stack ?? e) });
  process.exit(1);
}
