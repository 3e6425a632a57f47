import { dataLength, getAddress, Interface, type Log } from 'ethers';

export const ERC20_INTERFACE = new Interface([
  'function transfer(address to, uint256 amount) returns (bool)',
  'function balanceOf(address owner) view returns (uint256)',
  'function decimals() view returns (uint8)',
  'event Transfer(address indexed from, address indexed to, uint256 value)',
]);

export const TRANSFER_TOPIC = ERC20_INTERFACE.getEvent('Transfer')!.topicHash;

export interface TokenTransfer {
  from: string;
  to: string;
  value: bigint;
}

/**
 * `token`'s ERC-20 Transfer logs among these logs. A log with the Transfer
 * topic in another layout (an ERC-721 shaped one, as hybrid tokens emit next
 * to their ERC-20 log: three indexed fields and no data) moves no amount and
 * is left out.
 */
export function tokenTransfers(logs: readonly Pick<Log, 'address' | 'topics' | 'data'>[], token: string): TokenTransfer[] {
  const transfers: TokenTransfer[] = [];
  for (const log of logs) {
    if (getAddress(log.address) !== getAddress(token) || log.topics[0] !== TRANSFER_TOPIC) continue;
    if (log.topics.length !== 3 || dataLength(log.data) !== 32) continue;
    const parsed = ERC20_INTERFACE.parseLog({ topics: [...log.topics], data: log.data })!;
    transfers.push({ from: getAddress(parsed.args[0] as string), to: getAddress(parsed.args[1] as string), value: parsed.args[2] as bigint });
  }
  return transfers;
}

export function sumOf(transfers: readonly TokenTransfer[]): bigint {
  return transfers.reduce((total, transfer) => total + transfer.value, 0n);
}
