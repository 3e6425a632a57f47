// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.20;

/// @title TestToken: a minimal ERC-20 for tests only.
/// @notice Anyone can mint. With `returnsFalseOnTransfer` set at construction,
///         `transfer` moves nothing, emits nothing and returns false without
///         reverting (like some broken real tokens), so tests can prove that the
///         payout code confirms the Transfer log instead of trusting the return value.
contract TestToken {
    string public name;
    string public symbol;
    uint8 public immutable decimals;
    bool public immutable returnsFalseOnTransfer;
    uint256 public totalSupply;

    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    constructor(string memory name_, string memory symbol_, uint8 decimals_, bool returnsFalseOnTransfer_) {
        name = name_;
        symbol = symbol_;
        decimals = decimals_;
        returnsFalseOnTransfer = returnsFalseOnTransfer_;
    }

    /// @notice Test only: anyone may mint to anyone.
    function mint(address to, uint256 amount) external {
        require(to != address(0), "TestToken: mint to zero");
        totalSupply += amount;
        balanceOf[to] += amount;
        emit Transfer(address(0), to, amount);
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        if (returnsFalseOnTransfer) return false;
        _transfer(msg.sender, to, amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed != type(uint256).max) {
            require(allowed >= amount, "TestToken: insufficient allowance");
            allowance[from][msg.sender] = allowed - amount;
        }
        _transfer(from, to, amount);
        return true;
    }

    function approve(address spender, uint256 amount) external returns (bool) {
        allowance[msg.sender][spender] = amount;
        emit Approval(msg.sender, spender, amount);
        return true;
    }

    function _transfer(address from, address to, uint256 amount) private {
        require(to != address(0), "TestToken: transfer to zero");
        uint256 balance = balanceOf[from];
        require(balance >= amount, "TestToken: insufficient balance");
        unchecked {
            balanceOf[from] = balance - amount;
        }
        balanceOf[to] += amount;
        emit Transfer(from, to, amount);
    }
}

/// @title FeeOnTransferToken: an ERC-20 that keeps a fee on every transfer, like
///        some real tokens. The recipient receives `amount - fee`, the fee goes
///        to `feeCollector`, and both legs emit Transfer. Tests use it to prove a
///        payout is judged by what the recipient actually received.
contract FeeOnTransferToken {
    string public name;
    string public symbol;
    uint8 public immutable decimals;
    uint16 public immutable feeBps;
    address public immutable feeCollector;
    uint256 public totalSupply;

    mapping(address => uint256) public balanceOf;

    event Transfer(address indexed from, address indexed to, uint256 value);

    constructor(string memory name_, string memory symbol_, uint8 decimals_, uint16 feeBps_, address feeCollector_) {
        name = name_;
        symbol = symbol_;
        decimals = decimals_;
        feeBps = feeBps_;
        feeCollector = feeCollector_;
    }

    function mint(address to, uint256 amount) external {
        totalSupply += amount;
        balanceOf[to] += amount;
        emit Transfer(address(0), to, amount);
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        require(balanceOf[msg.sender] >= amount, "FeeOnTransferToken: insufficient balance");
        uint256 fee = (amount * feeBps) / 10000;
        balanceOf[msg.sender] -= amount;
        balanceOf[to] += amount - fee;
        balanceOf[feeCollector] += fee;
        emit Transfer(msg.sender, to, amount - fee);
        emit Transfer(msg.sender, feeCollector, fee);
        return true;
    }
}

/// @title OddToken: an ERC-20 whose `transfer` misbehaves in one of two ways seen
///        in real tokens. Mode 1 (hybrid, ERC-404 style) also emits an ERC-721
///        shaped Transfer (three indexed fields, no data) next to the ERC-20 one.
///        Mode 2 (redirecting, e.g. a proxy upgraded by an attacker) sends the
///        amount to `sink` instead of the recipient, and logs that. Mode 3
///        (blocklist, as USDC and USDT keep) reverts any transfer to `sink`.
///        Mode 4 (pass-through) credits the recipient, then moves the amount on
///        from it to `sink` in the same call, logging both legs. Mode 5 (old
///        SafeMath style) halts with INVALID instead of reverting when the
///        sender's balance is short. Mode 6 (silent redirect) sends the amount
///        to `sink` and logs nothing.
contract OddToken {
    bytes32 private constant TRANSFER_TOPIC = keccak256("Transfer(address,address,uint256)");
    uint8 public immutable mode;
    address public immutable sink;
    uint8 public constant decimals = 18;

    mapping(address => uint256) public balanceOf;

    event Transfer(address indexed from, address indexed to, uint256 value);

    constructor(uint8 mode_, address sink_) {
        mode = mode_;
        sink = sink_;
    }

    function mint(address to, uint256 amount) external {
        balanceOf[to] += amount;
        emit Transfer(address(0), to, amount);
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        require(mode != 3 || to != sink, "OddToken: recipient is blocked");
        address receiver = mode == 2 || mode == 6 ? sink : to;
        if (mode == 5 && balanceOf[msg.sender] < amount) {
            assembly {
                invalid()
            }
        }
        require(balanceOf[msg.sender] >= amount, "OddToken: insufficient balance");
        balanceOf[msg.sender] -= amount;
        balanceOf[receiver] += amount;
        if (mode != 6) emit Transfer(msg.sender, receiver, amount);
        if (mode == 4) {
            balanceOf[to] -= amount;
            balanceOf[sink] += amount;
            emit Transfer(to, sink, amount);
        }
        if (mode == 1) {
            bytes32 topic = TRANSFER_TOPIC;
            address from = msg.sender;
            assembly {
                log4(0, 0, topic, from, receiver, 1)
            }
        }
        return true;
    }
}

/// @title LegacyToken: an ERC-20 from before indexed events were the norm: its
///        Transfer log has the topic alone and from, to and value in its data.
contract LegacyToken {
    uint8 public constant decimals = 18;
    mapping(address => uint256) public balanceOf;

    event Transfer(address from, address to, uint256 value);

    function mint(address to, uint256 amount) external {
        balanceOf[to] += amount;
        emit Transfer(address(0), to, amount);
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        require(balanceOf[msg.sender] >= amount, "LegacyToken: insufficient balance");
        balanceOf[msg.sender] -= amount;
        balanceOf[to] += amount;
        emit Transfer(msg.sender, to, amount);
        return true;
    }
}
