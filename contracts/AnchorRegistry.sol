// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title AnchorRegistry
/// @notice Public timestamps for the aigc-gateway ledger: each call records one signed
///         checkpoint's Merkle root (RFC 6962/9162) and tree size as an event. Nothing is
///         stored in contract state; the event log is the record, which keeps an anchor
///         near the ~25 k gas of a bare event (STANDARDS.md, "Transparency log").
contract AnchorRegistry {
    /// @param root      RFC 6962 Merkle tree head of the ledger at `treeSize`.
    /// @param treeSize  number of leaves the root covers.
    /// @param origin    the account that anchored it (the ledger operator's key).
    event Anchored(bytes32 indexed root, uint64 treeSize, address indexed origin);

    function anchor(bytes32 root, uint64 treeSize) external {
        emit Anchored(root, treeSize, msg.sender);
    }
}
