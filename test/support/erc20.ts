import fs from 'node:fs';
import path from 'node:path';
import { ethers } from 'ethers';

/** Path of the Solidity source of the test token. */
export const TEST_TOKEN_SOURCE_PATH = path.join(__dirname, 'contracts', 'TestToken.sol');

/** Human-readable ERC-20 ABI: enough to read balances and metadata, transfer, and decode Transfer logs. */
export const ERC20_ABI = [
  'function name() view returns (string)',
  'function symbol() view returns (string)',
  'function decimals() view returns (uint8)',
  'function totalSupply() view returns (uint256)',
  'function balanceOf(address owner) view returns (uint256)',
  'function allowance(address owner, address spender) view returns (uint256)',
  'function transfer(address to, uint256 amount) returns (bool)',
  'function transferFrom(address from, address to, uint256 amount) returns (bool)',
  'function approve(address spender, uint256 amount) returns (bool)',
  'event Transfer(address indexed from, address indexed to, uint256 value)',
  'event Approval(address indexed owner, address indexed spender, uint256 value)',
] as const;

/** ERC20_ABI plus the test token's extras (mint, returnsFalseOnTransfer). */
export const TEST_TOKEN_ABI = [
  ...ERC20_ABI,
  'function mint(address to, uint256 amount)',
  'function returnsFalseOnTransfer() view returns (bool)',
] as const;

export interface CompiledContract {
  abi: ethers.InterfaceAbi;
  bytecode: string;
}

export interface TestTokenOptions {
  name?: string;
  symbol?: string;
  decimals?: number;
  /** When true, `transfer` moves nothing, emits no log and returns false (no revert). */
  returnsFalseOnTransfer?: boolean;
}

interface SolcOutput {
  errors?: { severity: 'error' | 'warning' | 'info'; formattedMessage: string }[];
  contracts?: Record<string, Record<string, { abi: ethers.InterfaceAbi; evm: { bytecode: { object: string } } }>>;
}

interface Solc {
  compile(input: string): string;
  version(): string;
}

let compiled: Record<string, CompiledContract> | undefined;

/** Compiles TestToken.sol with solc-js (offline, bundled compiler); once per process. */
export function compileTestToken(name: 'TestToken' | 'FeeOnTransferToken' | 'OddToken' | 'LegacyToken' = 'TestToken'): CompiledContract {
  compiled ??= compileAll();
  const contract = compiled[name];
  if (!contract) throw new Error(`solc produced no ${name} contract`);
  return contract;
}

function compileAll(): Record<string, CompiledContract> {
  // solc ships no type declarations; the part used here is typed by the Solc interface.
  const solc = require('solc') as Solc;
  const input = {
    language: 'Solidity',
    sources: { 'TestToken.sol': { content: fs.readFileSync(TEST_TOKEN_SOURCE_PATH, 'utf8') } },
    settings: {
      optimizer: { enabled: true, runs: 200 },
      evmVersion: 'cancun',
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input))) as SolcOutput;
  const errors = (output.errors ?? []).filter((e) => e.severity === 'error');
  if (errors.length > 0) {
    throw new Error(`solc ${solc.version()} failed to compile TestToken.sol:\n${errors.map((e) => e.formattedMessage).join('\n')}`);
  }
  return Object.fromEntries(
    Object.entries(output.contracts?.['TestToken.sol'] ?? {}).map(([name, contract]) => [name, { abi: contract.abi, bytecode: `0x${contract.evm.bytecode.object}` }]),
  );
}

/** Deploys a token that keeps `feeBps` of every transfer for `feeCollector`. */
export async function deployFeeOnTransferToken(signer: ethers.Signer, options: { feeBps: number; feeCollector: string; decimals?: number; symbol?: string }): Promise<ethers.Contract> {
  const { abi, bytecode } = compileTestToken('FeeOnTransferToken');
  const deployed = await new ethers.ContractFactory(abi, bytecode, signer).deploy('Fee Token', options.symbol ?? 'FEE', options.decimals ?? 18, options.feeBps, options.feeCollector);
  await deployed.waitForDeployment();
  return deployed as unknown as ethers.Contract;
}

/**
 * Deploys a token whose transfer misbehaves: 'hybrid' also logs an ERC-721 shaped Transfer,
 * 'redirecting' sends every transfer to `sink` instead of the recipient, 'blocklist' reverts transfers to `sink`,
 * 'pass-through' moves each amount on from the recipient to `sink`, 'halting' halts (INVALID) when the sender is short,
 * 'silent-redirect' sends every transfer to `sink` and logs nothing.
 */
export async function deployOddToken(
  signer: ethers.Signer,
  options: { mode: 'hybrid' | 'redirecting' | 'blocklist' | 'pass-through' | 'halting' | 'silent-redirect'; sink?: string },
): Promise<ethers.Contract> {
  const { abi, bytecode } = compileTestToken('OddToken');
  const mode = { hybrid: 1, redirecting: 2, blocklist: 3, 'pass-through': 4, halting: 5, 'silent-redirect': 6 }[options.mode];
  const deployed = await new ethers.ContractFactory(abi, bytecode, signer).deploy(mode, options.sink ?? ethers.ZeroAddress);
  await deployed.waitForDeployment();
  return deployed as unknown as ethers.Contract;
}

/** Deploys a token whose Transfer log is not indexed (from, to and value in its data). */
export async function deployLegacyToken(signer: ethers.Signer): Promise<ethers.Contract> {
  const { abi, bytecode } = compileTestToken('LegacyToken');
  const deployed = await new ethers.ContractFactory(abi, bytecode, signer).deploy();
  await deployed.waitForDeployment();
  return deployed as unknown as ethers.Contract;
}

/** Deploys a fresh TestToken from `signer` and waits until it is mined. */
export async function deployTestToken(signer: ethers.Signer, options: TestTokenOptions = {}): Promise<ethers.Contract> {
  const { abi, bytecode } = compileTestToken();
  const factory = new ethers.ContractFactory(abi, bytecode, signer);
  const deployed = await factory.deploy(
    options.name ?? 'Test Token',
    options.symbol ?? 'TEST',
    options.decimals ?? 18,
    options.returnsFalseOnTransfer ?? false,
  );
  await deployed.waitForDeployment();
  return deployed as unknown as ethers.Contract;
}

/** An ERC-20 contract handle at `address` (reads with a provider, writes with a signer). */
export function erc20At(address: string, runner: ethers.ContractRunner): ethers.Contract {
  return new ethers.Contract(address, ERC20_ABI, runner);
}

/** The token balance of `owner`, in the token's smallest unit. */
export async function tokenBalance(token: string | ethers.Addressable, owner: string, runner: ethers.ContractRunner): Promise<bigint> {
  const contract = new ethers.Contract(await ethers.resolveAddress(token), ERC20_ABI, runner);
  return (await contract.getFunction('balanceOf')(owner)) as bigint;
}
