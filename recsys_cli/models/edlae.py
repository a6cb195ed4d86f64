"""EDLAE: the emphasised denoising linear autoencoder of Steck (2020), "Autoencoders that
don't overfit towards the identity" (NeurIPS 2020), with full emphasis, in closed form.

Full emphasis counts the reconstruction error only on the entries that were dropped out of
the input. Predicting a dropped entry X_uj, the input holds no X_uj (it was dropped), so B_jj
never takes part: the diagonal is constrained to zero, as in EASE. For column j, given that
X_uj was dropped, every other input entry is X_ui / (1 - p) with probability 1 - p, so the
expected loss of column b = B[:, j] is (section 3 of the paper, with the plain L2 term added)

    ||X_j - X b||^2 + b^T Lambda b,   b_j = 0,
    Lambda = p / (1 - p) * diagMat(diag(G)) + l2 * I,   G = X^T X.

That is EASE with the scalar penalty l2 * I replaced by the diagonal Lambda, and EASE's
Lagrangian derivation goes through unchanged for any diagonal penalty:

    B = I - P diagMat(1 / diag(P)),   P = (G + Lambda)^-1,   diag(B) = 0,

i.e. B_ij = -P_ij / P_jj off the diagonal. With dropout 0 it is EASE with l2; the dropout
term regularises popular items (large G_ii) more, which plain EASE cannot. One float32
inverse in place (models/dlae.py's penalised_inverse), then EASE's column rescale.
"""

from __future__ import annotations

from recsys_cli.models.dlae import DLAE, DLAEParams, penalised_inverse
from recsys_cli.models.ease import check_fits, zero_diagonal_weights
from recsys_cli.models.params import params_class


@params_class
def EDLAEParams():
    from pydantic import Field

    class EDLAEParams(DLAEParams.build()):
        # Defaults: the best geometric mean of validation MRR@100 against default EASE over
        # ml-latest-small (>= 4 and all ratings), synthetic ML-1M and Last.fm-style counts
        # (benchmarks/model_defaults.py; the figures in benchmarks/README.md).
        dropout: float = Field(0.25, ge=0, lt=1, description="input dropout probability p")
        l2: float = Field(300.0, ge=0, description="plain L2 regularisation added to the dropout penalty")

    return EDLAEParams


class EDLAE(DLAE):
    Params = EDLAEParams

    def fit(self, train):
        self.n_items = train.shape[1]
        check_fits(self.n_items)
        weights, _ = penalised_inverse(train, self.params.dropout, self.params.l2)
        self.set_weights(zero_diagonal_weights(weights))
        return self
