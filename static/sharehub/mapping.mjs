// The mapping form asks for allowed values only of a category column: the box appears as soon as
// "Sensitive field: Category" is chosen and goes when another role is. Without JavaScript the
// server shows it for the columns that are categories, and asks for the values of a column made
// a category when the form is saved.
for (const box of document.querySelectorAll('[data-category-for]')) {
  const role = document.getElementById(box.dataset.categoryFor)
  if (role) {
    const show = () => { box.hidden = role.value !== 'type:category' }
    role.addEventListener('change', show)
    show()
  }
}
