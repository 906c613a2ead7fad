"""
Classification by neighbour vote, tuned with GridSearchCV
=========================================================

:class:`~sklearn_lsh.LSHKNeighborsClassifier` votes among approximate
neighbours, like :class:`sklearn.neighbors.KNeighborsClassifier` among exact
ones. Few hyperplanes make big buckets (many candidates, close to exact search);
many hyperplanes make small buckets that miss neighbours unless there are enough
tables. ``GridSearchCV`` finds the trade-off on the digits data set.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neighbors import KNeighborsClassifier

from sklearn_lsh import LSHKNeighborsClassifier

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

grid = {"n_hyperplanes": [4, 8, 12, 16], "n_tables": [1, 2, 4, 8]}
search = GridSearchCV(LSHKNeighborsClassifier(n_probes=0, random_state=0), grid, cv=5)
search.fit(X_train, y_train)
print("best parameters:", search.best_params_)
print(f"held-out accuracy, LSH: {search.score(X_test, y_test):.3f}")
exact = KNeighborsClassifier().fit(X_train, y_train)
print(f"held-out accuracy, exact k-NN: {exact.score(X_test, y_test):.3f}")

# %%
# The cross-validated accuracy over the grid: with one table, many hyperplanes
# lose accuracy; more tables win it back.
scores = search.cv_results_["mean_test_score"].reshape(len(grid["n_hyperplanes"]),
                                                       len(grid["n_tables"]))
fig, ax = plt.subplots(figsize=(5, 4))
image = ax.imshow(scores, cmap="viridis", origin="lower")
ax.set_xticks(range(len(grid["n_tables"])), grid["n_tables"])
ax.set_yticks(range(len(grid["n_hyperplanes"])), grid["n_hyperplanes"])
ax.set(xlabel="n_tables", ylabel="n_hyperplanes", title="cross-validated accuracy")
for (i, j), value in np.ndenumerate(scores):
    ax.text(j, i, f"{value:.3f}", ha="center", va="center",
            color="w" if value < scores.mean() else "k", fontsize=8)
fig.colorbar(image)
plt.show()
