import { AbiCoder, Contract, dataLength, getAddress, Interface, type BlockTag, type Log, type Provider } from 'ethers';

export const ERC20_INTERFACE = new Interface([
  'function transfer(address to, uint256 amount) returns (bool)',
  'function balanceOf(address owner) view returns (uint256)',
  'function decimals() view returns (uint8)',
  'event Transfer(address indexed from, address indexed to, uint256 value)',
]);

/** `owner`'s balance of `token`, as of `blockTag` (the latest block unless given). */
export async function tokenBalanceOf(provider: Provider, token: string, owner: string, blockTag?: BlockTag): Promise<bigint> {
  return (await new Contract(token, ERC20_INTERFACE, provider).getFunction('balanceOf')(owner, { blockTag })) as bigint;
}

export const TRANSFER_TOPIC = ERC20_INTERFACE.getEvent('Transfer')!.topicHash;

export interface TokenTransfer {
  from: string;
  to: string;
  value: bigint;
  transactionHash: string;
}

/** `token`'s Transfer logs: those that move an amount, and how many carry its topic in a layout that cannot be read. */
export interface TokenTransfers {
  transfers: TokenTransfer[];
  unreadable: number;
}

const LEGACY_TRANSFER = ['address', 'address', 'uint256'];

/**
 * `token`'s ERC-20 Transfer logs among these logs, indexed (from and to as
 * topics) or not (all three in the data, as some older tokens log them). An
 * ERC-721 shaped one (three indexed fields, no data), as hybrid tokens emit
 * next to their ERC-20 log, moves no amount and is left out; any other layout
 * is counted as unreadable.
 */
export function tokenTransfers(logs: readonly Pick<Log, 'address' | 'topics' | 'data' | 'transactionHash'>[], token: string): TokenTransfers {
  const transfers: TokenTransfer[] = [];
  let unreadable = 0;
  const tokenAddress = getAddress(token);
  for (const log of logs) {
    if (getAddress(log.address) !== tokenAddress || log.topics[0] !== TRANSFER_TOPIC) continue;
    const { transactionHash } = log;
    if (log.topics.length === 3 && dataLength(log.data) === 32) {
      const parsed = ERC20_INTERFACE.parseLog({ topics: [...log.topics], data: log.data })!;
      transfers.push({ from: getAddress(parsed.args[0] as string), to: getAddress(parsed.args[1] as string), value: parsed.args[2] as bigint, transactionHash });
    } else if (log.topics.length === 1 && dataLength(log.data) === 96) {
      const [from, to, value] = AbiCoder.defaultAbiCoder().decode(LEGACY_TRANSFER, log.data);
      transfers.push({ from: getAddress(from as string), to: getAddress(to as string), value: value as bigint, transactionHash });
    } else if (!(log.topics.length === 4 && dataLength(log.data) === 0)) {
      unreadable += 1;
    }
  }
  return { transfers, unreadable };
}

function sumOf(transfers: readonly TokenTransfer[]): bigint {
  return transfers.reduce((total, transfer) => total + transfer.value, 0n);
}

/** What these transfers moved to `account`, net of what they moved from it. */
export function netTo(transfers: readonly TokenTransfer[], account: string): bigint {
  const address = getAddress(account);
  return sumOf(transfers.filter((transfer) => transfer.to === address)) - sumOf(transfers.filter((transfer) => transfer.from === address));
}
