import { Interface, getAddress, type Log } from 'ethers';

export const ERC20_INTERFACE = new Interface([
  'function transfer(address to, uint256 amount) returns (bool)',
  'function balanceOf(address owner) view returns (uint256)',
  'event Transfer(address indexed from, address indexed to, uint256 value)',
]);

const TRANSFER_TOPIC = ERC20_INTERFACE.getEvent('Transfer')!.topicHash;

/**
 * True if the receipt's logs hold the exact Transfer this payout intended. Some
 * tokens return false instead of reverting, so a successful receipt alone proves nothing.
 */
export function hasTransferLog(logs: readonly Log[], token: string, from: string, to: string, amount: bigint): boolean {
  return logs.some((log) => {
    if (getAddress(log.address) !== getAddress(token) || log.topics[0] !== TRANSFER_TOPIC) return false;
    const parsed = ERC20_INTERFACE.parseLog({ topics: [...log.topics], data: log.data });
    return parsed !== null && getAddress(parsed.args[0]) === getAddress(from) && getAddress(parsed.args[1]) === getAddress(to) && parsed.args[2] === amount;
  });
}
